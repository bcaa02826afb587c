"""API keys: a program's long-lived credential for one end user, exchanged for short-lived
access tokens. The key is shown to its holder once and kept only as its digest, with a few
of its last characters for people to tell their keys apart; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.aggregate import Aggregate
from chassis.clock import as_stored
from chassis.errors import Gone, RuleViolation
from chassis.logging import new_id
from identity.opaque import Secret

PREFIX = "apk_"
# Characters of the key kept in clear: enough to recognise it, far too few to guess the rest
# (a key carries 256 random bits).
HINT_LENGTH = 4
MAX_DESCRIPTION = 200
# How far ahead an expiry may be set; a key without one lasts until it is deleted.
MAX_LIFETIME = timedelta(days=730)


class ExpiryNotValid(RuleViolation):
    pass


class DescriptionNotValid(RuleViolation):
    pass


class ApiKeyExpired(Gone):
    pass


def new_secret() -> Secret:
    return Secret.new(PREFIX)


@dataclass(frozen=True)
class ApiKeyCreated:
    key_id: str
    user_id: str
    description: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiKeyRegenerated:
    key_id: str
    user_id: str


@dataclass(frozen=True)
class ApiKeyDeleted:
    key_id: str
    user_id: str


@dataclass
class ApiKey(Aggregate):
    id: str
    user_id: str
    digest: str
    hint: str
    description: str | None
    created_at: datetime
    expires_at: datetime | None
    regenerated_at: datetime | None = None

    @classmethod
    def create(
        cls,
        user_id: str,
        secret: Secret,
        now: datetime,
        *,
        description: str | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKey:
        """A key of `user_id` whose value is `secret`; without `expires_at` it lasts until it
        is deleted, with one it must end after `now` and within `MAX_LIFETIME`."""
        if expires_at is not None and expires_at <= now:
            raise ExpiryNotValid("an API key's expiry must be in the future")
        if expires_at is not None and expires_at > now + MAX_LIFETIME:
            raise ExpiryNotValid(f"an API key expires within {MAX_LIFETIME.days} days, or never")
        expires_at = as_stored(expires_at) if expires_at is not None else None
        description = " ".join(description.split()) if description else None
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise DescriptionNotValid(f"a description has at most {MAX_DESCRIPTION} characters")
        key = cls(
            new_id(), user_id, secret.digest, hint(secret), description or None, now, expires_at
        )
        key.record(ApiKeyCreated(key.id, user_id, key.description, expires_at))
        return key

    def usable(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def regenerate(self, secret: Secret, now: datetime) -> None:
        """`secret` replaces the key's value at once: the old one is refused from now on.
        The id, description and expiry stay."""
        if not self.usable(now):
            raise ApiKeyExpired("this API key has expired; create a new one instead")
        self.digest, self.hint, self.regenerated_at = secret.digest, hint(secret), now
        self.record(ApiKeyRegenerated(self.id, self.user_id))

    def delete(self) -> None:
        """Record that the key ends (the repository removes it)."""
        self.record(ApiKeyDeleted(self.id, self.user_id))


def hint(secret: Secret) -> str:
    return secret.value[-HINT_LENGTH:]
