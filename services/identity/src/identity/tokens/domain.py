"""Refresh tokens: opaque, kept as digests, rotated on every use. Each login starts a family;
a token of the family presented a second time means it was stolen (or replayed), so the
whole family is revoked and its holder must log in again. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.aggregate import Aggregate
from chassis.logging import new_id


@dataclass(frozen=True)
class FamilyRevoked:
    user_id: str
    family_id: str
    reason: str


@dataclass
class RefreshToken(Aggregate):
    digest: str
    family_id: str
    user_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def start_family(
        cls, digest: str, user_id: str, now: datetime, lifetime: timedelta
    ) -> RefreshToken:
        return cls(digest, new_id(), user_id, now, now + lifetime)

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at

    @property
    def reused(self) -> bool:
        return self.used_at is not None and self.revoked_at is None

    def rotate(self, digest: str, now: datetime, lifetime: timedelta) -> RefreshToken:
        """Spend this token for its successor in the same family."""
        assert self.usable(now)
        self.used_at = now
        return RefreshToken(digest, self.family_id, self.user_id, now, now + lifetime)

    def revoke_family(self, now: datetime, reason: str) -> None:
        """Record that this token's family ends (the repository revokes every member)."""
        self.revoked_at = now
        self.record(FamilyRevoked(self.user_id, self.family_id, reason))
