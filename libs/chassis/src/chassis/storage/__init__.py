"""The storage part: MongoDB, indexes, units of work with their outbox, the inbox."""
