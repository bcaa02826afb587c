"""The rules of an API key, without I/O: its expiry, its hint, regeneration and deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from identity.apikeys.domain import (
    MAX_LIFETIME,
    PREFIX,
    ApiKey,
    ApiKeyCreated,
    ApiKeyDeleted,
    ApiKeyExpired,
    ApiKeyRegenerated,
    DescriptionNotValid,
    ExpiryNotValid,
    new_secret,
)
from identity.opaque import digest

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_a_new_key_keeps_only_the_digest_and_a_hint() -> None:
    secret = new_secret()
    key = ApiKey.create("u1", secret, NOW, description="  build   server ")
    assert secret.value.startswith(PREFIX) and len(secret.value) == len(PREFIX) + 43
    assert key.digest == digest(secret.value) and key.hint == secret.value[-4:]
    assert secret.value not in repr(key.__dict__)
    assert key.description == "build server" and key.expires_at is None
    assert key.recorded == (ApiKeyCreated(key.id, "u1", "build server", None),)
    assert new_secret().value != secret.value


@pytest.mark.parametrize(
    "expires_at",
    [NOW, NOW - timedelta(seconds=1), NOW + MAX_LIFETIME + timedelta(milliseconds=1)],
)
def test_an_expiry_is_ahead_and_not_too_far(expires_at: datetime) -> None:
    with pytest.raises(ExpiryNotValid):
        ApiKey.create("u1", new_secret(), NOW, expires_at=expires_at)


def test_an_expiry_is_kept_in_utc_to_the_millisecond() -> None:
    paris = timezone(timedelta(hours=2))
    expires = datetime(2026, 6, 2, 14, 0, 0, 123456, tzinfo=paris)
    key = ApiKey.create("u1", new_secret(), NOW, expires_at=expires)
    assert key.expires_at == datetime(2026, 6, 2, 12, 0, 0, 123000, tzinfo=UTC)
    assert key.expires_at.tzinfo == UTC
    assert ApiKey.create("u1", new_secret(), NOW, expires_at=NOW + MAX_LIFETIME).expires_at


def test_a_key_is_usable_until_it_expires() -> None:
    key = ApiKey.create("u1", new_secret(), NOW, expires_at=NOW + timedelta(hours=1))
    assert key.usable(NOW + timedelta(minutes=59))
    assert not key.usable(NOW + timedelta(hours=1))
    forever = ApiKey.create("u1", new_secret(), NOW)
    assert forever.usable(NOW + timedelta(days=10_000))


def test_a_description_is_bounded() -> None:
    with pytest.raises(DescriptionNotValid):
        ApiKey.create("u1", new_secret(), NOW, description="x" * 201)
    assert ApiKey.create("u1", new_secret(), NOW, description="   ").description is None


def test_regeneration_replaces_the_secret_and_keeps_the_rest() -> None:
    key = ApiKey.create("u1", new_secret(), NOW, description="ci", expires_at=NOW + timedelta(1))
    old_digest = key.digest
    key.forget_recorded()
    secret = new_secret()
    later = NOW + timedelta(hours=2)
    key.regenerate(secret, later)
    assert key.digest == digest(secret.value) != old_digest
    assert key.hint == secret.value[-4:] and key.regenerated_at == later
    assert (key.description, key.expires_at) == ("ci", NOW + timedelta(1))
    assert key.recorded == (ApiKeyRegenerated(key.id, "u1"),)


def test_an_expired_key_is_not_regenerated() -> None:
    key = ApiKey.create("u1", new_secret(), NOW, expires_at=NOW + timedelta(minutes=1))
    digest_before = key.digest
    with pytest.raises(ApiKeyExpired):
        key.regenerate(new_secret(), NOW + timedelta(minutes=1))
    assert key.digest == digest_before


def test_deletion_is_recorded() -> None:
    key = ApiKey.create("u1", new_secret(), NOW)
    key.forget_recorded()
    key.delete()
    assert key.recorded == (ApiKeyDeleted(key.id, "u1"),)
