"""The rules of identity's aggregates, without I/O: the password policy, lockout, emailed
tokens, refresh-token rotation, signing-key rotation, roles and memberships."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt

from chassis.errors import Gone, Locked, NotAllowed
from identity.credentials.domain import (
    LOCKOUT,
    MAX_FAILURES,
    LockedOut,
    LoggedIn,
    LoginRefused,
    PasswordCredential,
    TokenNotValid,
    WeakPassword,
    check_policy,
)
from identity.opaque import Secret, digest
from identity.tokens.domain import FamilyRevoked, RefreshToken
from identity.tokens.signing import VERIFY_LEEWAY, Keyring, SigningKey
from identity.users.domain import (
    FOUNDER_ROLES,
    AlreadyMember,
    EndUser,
    RolesChanged,
    StandardRoleKept,
    UnknownRole,
    UnknownTimezone,
    UserKind,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    "password", ["Abcdef1!", "abcdefg1!", "ABCDEFG1!", "Abcdefgh1", "Ab1!" * 50]
)
def test_good_passwords(password: str) -> None:
    check_policy(password)


@pytest.mark.parametrize(
    "password", ["Abcde1!", "abcdefgh", "abcdefg1", "ABCDEFG!", "Ab1!" * 50 + "x", "        "]
)
def test_weak_passwords(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_policy(password)


def credential(confirmed: bool = True) -> PasswordCredential:
    return PasswordCredential.register("user", "ada@example.com", "Ada", "$argon2id$x", confirmed)


def test_the_fifth_failure_locks_for_ten_minutes() -> None:
    c = credential()
    for _ in range(MAX_FAILURES - 1):
        c.password_failed(NOW)
    assert not c.locked(NOW)
    c.password_failed(NOW)
    assert c.locked(NOW) and c.locked(NOW + LOCKOUT - timedelta(seconds=1))
    assert not c.locked(NOW + LOCKOUT)
    assert [type(e) for e in c.recorded][-1] is LockedOut
    with pytest.raises(Locked) as refused:
        c.refuse_while_locked(NOW + timedelta(minutes=4))
    assert refused.value.retry_after == 360
    # Once the lock is over, counting starts again.
    c.password_failed(NOW + LOCKOUT)
    assert c.failed_attempts == 1 and not c.locked(NOW + LOCKOUT)


def test_a_right_password_forgets_the_failures() -> None:
    c = credential()
    c.password_failed(NOW)
    c.password_matched()
    assert c.failed_attempts == 0 and isinstance(c.recorded[-1], LoggedIn)


def test_an_unconfirmed_person_is_refused_even_with_the_right_password() -> None:
    c = credential(confirmed=False)
    with pytest.raises(NotAllowed):
        c.password_matched()
    assert c.recorded[-1] == LoginRefused("user", "unconfirmed")


def test_confirmation_tokens_are_checked_and_expire() -> None:
    c = credential(confirmed=False)
    secret = Secret.new()
    c.request_confirmation(secret.value, secret.digest, NOW, DAY)
    with pytest.raises(TokenNotValid):
        c.confirm(digest("another"), NOW)
    with pytest.raises(Gone):
        c.confirm(secret.digest, NOW + DAY)
    c.confirm(secret.digest, NOW + DAY - timedelta(seconds=1))
    assert c.confirmed and c.confirmation is None


def test_a_reset_sets_the_password_and_unlocks() -> None:
    c = credential()
    for _ in range(MAX_FAILURES):
        c.password_failed(NOW)
    secret = Secret.new()
    c.request_reset(secret.value, secret.digest, NOW, timedelta(hours=1))
    c.complete_reset(secret.digest, "$argon2id$new", NOW)
    assert c.password_hash == "$argon2id$new" and not c.locked(NOW) and c.reset is None
    with pytest.raises(TokenNotValid):
        c.complete_reset(secret.digest, "$argon2id$again", NOW)


def test_secrets_are_never_shown_by_repr() -> None:
    secret = Secret.new("apk_")
    assert secret.value.startswith("apk_") and secret.value not in repr(secret)
    assert secret.digest == digest(secret.value)


def test_a_refresh_token_is_spent_by_rotation() -> None:
    first = RefreshToken.start_family("d1", "user", NOW, DAY)
    second = first.rotate("d2", NOW, DAY)
    assert second.family_id == first.family_id and not first.usable(NOW) and first.reused
    assert second.usable(NOW) and not second.usable(NOW + DAY)
    first.revoke_family(NOW, "reused")
    assert first.recorded == (FamilyRevoked("user", first.family_id, "reused"),)
    assert not first.reused


def test_a_new_key_is_published_before_it_signs_and_the_old_one_verifies_after() -> None:
    lifetime = timedelta(minutes=15)
    ring = Keyring(lifetime)
    old = SigningKey.generate(NOW, NOW)
    ring.replace([old])
    takes_over = NOW + timedelta(seconds=45)
    new = SigningKey.generate(NOW, takes_over, replaces=[old.kid])
    old.retired_at = takes_over
    ring.replace([old, new])

    def kids(at: datetime) -> set[str]:
        return {k["kid"] for k in ring.jwks(at)["keys"]}

    def signer(at: datetime) -> str:
        token = ring.sign({"sub": "u"}, at)
        return str(jwt.get_unverified_header(token)["kid"])

    assert kids(NOW) == {old.kid, new.kid}
    assert signer(takes_over - timedelta(seconds=1)) == old.kid
    assert signer(takes_over) == new.kid
    last_old_token_dies = takes_over + lifetime + VERIFY_LEEWAY
    assert kids(last_old_token_dies - timedelta(seconds=1)) == {old.kid, new.kid}
    assert kids(last_old_token_dies) == {new.kid}
    assert ring.newest is new


def person(operator: bool = False) -> EndUser:
    return EndUser.register(
        UserKind.PERSON, "org", FOUNDER_ROLES, NOW, email="ada@example.com", operator=operator
    )


def test_roles() -> None:
    user = person()
    assert user.roles == {"standard"} and person(operator=True).roles == {"standard", "operations"}
    user.assign(["operations"])
    user.assign(["operations"])
    assert [e for e in user.recorded if isinstance(e, RolesChanged)] == [
        RolesChanged(
            user.id, frozenset({"standard", "operations"}), frozenset({"operations"}), frozenset()
        )
    ]
    with pytest.raises(StandardRoleKept):
        user.unassign(["standard", "operations"])
    assert "operations" in user.roles, "a refused change changes nothing"
    with pytest.raises(UnknownRole):
        user.assign(["root"])


def test_memberships() -> None:
    user = person()
    assert user.roles_in("org") == FOUNDER_ROLES and user.roles_in("other") == frozenset()
    with pytest.raises(AlreadyMember):
        user.join("org", frozenset({"member"}))
    user.join("other", frozenset({"member"}))
    user.choose_default_organization("other")
    assert user.default_organization_id == "other"


def test_timezones_are_iana_names() -> None:
    with pytest.raises(UnknownTimezone):
        EndUser.register(UserKind.PERSON, "org", FOUNDER_ROLES, NOW, timezone="Mars/Olympus")
