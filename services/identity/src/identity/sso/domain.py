"""Links between a provider's person (provider, subject) and our end user; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.aggregate import Aggregate


@dataclass(frozen=True)
class SsoLinked:
    user_id: str
    provider: str


@dataclass(frozen=True)
class SsoSignedIn:
    user_id: str
    provider: str


@dataclass
class SsoLink(Aggregate):
    provider: str
    subject: str
    user_id: str
    linked_at: datetime

    @classmethod
    def link(cls, provider: str, subject: str, user_id: str, now: datetime) -> SsoLink:
        link = cls(provider, subject, user_id, now)
        link.record(SsoLinked(user_id, provider))
        return link

    def signed_in(self) -> None:
        self.record(SsoSignedIn(self.user_id, self.provider))
