"""The messaging part: broker, queue topology, subscriptions, outbox relay, commands."""
