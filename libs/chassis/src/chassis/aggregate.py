"""Aggregates record what happened to them; their unit of work publishes it on commit."""

from __future__ import annotations


class Aggregate:
    """Mix into a dataclass aggregate: `self.record(SomethingHappened(...))` in its methods.

    The unit of work reads the recorded domain events of every aggregate its repositories
    handed out or took in, turns them into integration events in the same transaction, and
    has the aggregate forget them once that transaction committed. Until then they stay: a
    transaction retried after a transient error publishes them all the same.
    """

    def __post_init__(self) -> None:
        self._recorded: list[object] = []

    def record(self, event: object) -> None:
        self._recorded.append(event)

    @property
    def recorded(self) -> tuple[object, ...]:
        """What happened since the last commit, oldest first."""
        return tuple(self._recorded)

    def forget_recorded(self) -> None:
        self._recorded.clear()
