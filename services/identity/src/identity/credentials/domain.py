"""A person's password credential: the policy, confirmation of the email address, lockout
after repeated failures, and password reset; no I/O. The password itself never reaches
this module, only its hash and the outcome of checking one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.aggregate import Aggregate
from chassis.errors import Gone, Locked, NotAllowed, RuleViolation

MIN_LENGTH, MAX_LENGTH = 8, 200
CLASSES_NEEDED = 3
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=10)


class WeakPassword(RuleViolation):
    pass


class AccountLocked(Locked):
    pass


class Unconfirmed(NotAllowed):
    pass


class TokenNotValid(RuleViolation):
    pass


class TokenExpired(Gone):
    pass


def check_policy(password: str) -> None:
    """8 to 200 characters, with at least three of: upper case, lower case, digit, other."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    classes = (
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < CLASSES_NEEDED:
        raise WeakPassword(
            "a password mixes at least three of: upper case, lower case, digits, other characters"
        )


@dataclass(frozen=True)
class PendingToken:
    """An emailed token's digest, until it is used or expires."""

    digest: str
    expires_at: datetime

    def check(self, digest: str, now: datetime, what: str) -> None:
        if digest != self.digest:
            raise TokenNotValid(f"the {what} token is not valid")
        if now >= self.expires_at:
            raise TokenExpired(f"the {what} token has expired; ask for a new one")


@dataclass(frozen=True)
class ConfirmationRequested:
    user_id: str
    email: str
    first_name: str
    # The token itself, which only the email carries; never stored by identity.
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class RegistrationConfirmed:
    user_id: str


@dataclass(frozen=True)
class LoggedIn:
    user_id: str


@dataclass(frozen=True)
class LoginRefused:
    user_id: str
    reason: str


@dataclass(frozen=True)
class LockedOut:
    user_id: str
    until: datetime


@dataclass(frozen=True)
class ResetRequested:
    user_id: str
    email: str
    first_name: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class PasswordChanged:
    user_id: str


@dataclass
class PasswordCredential(Aggregate):
    user_id: str
    email: str
    first_name: str
    password_hash: str
    confirmed: bool
    confirmation: PendingToken | None = None
    failed_attempts: int = 0
    locked_until: datetime | None = None
    reset: PendingToken | None = None

    @classmethod
    def register(
        cls, user_id: str, email: str, first_name: str, password_hash: str, confirmed: bool
    ) -> PasswordCredential:
        """`confirmed` when the address is proven already (an invitation sent to it)."""
        return cls(user_id, email, first_name, password_hash, confirmed)

    def request_confirmation(self, token: str, digest: str, now: datetime, ttl: timedelta) -> None:
        if self.confirmed:
            return
        self.confirmation = PendingToken(digest, now + ttl)
        self.record(
            ConfirmationRequested(self.user_id, self.email, self.first_name, token, now + ttl)
        )

    def confirm(self, digest: str, now: datetime) -> None:
        if self.confirmation is None:
            raise TokenNotValid("the confirmation token is not valid")
        self.confirmation.check(digest, now, "confirmation")
        self.confirmed = True
        self.confirmation = None
        self.record(RegistrationConfirmed(self.user_id))

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def refuse_while_locked(self, now: datetime) -> None:
        """An attempt while locked: refused whatever the password, and recorded."""
        assert self.locked_until is not None
        self.record(LoginRefused(self.user_id, "locked"))
        raise AccountLocked(
            "too many failed logins: the account is locked for a while",
            retry_after=max(1, int((self.locked_until - now).total_seconds())),
        )

    def password_failed(self, now: datetime) -> None:
        """A wrong password: the fifth in a row locks the account."""
        if self.locked_until is not None and now >= self.locked_until:
            self.failed_attempts, self.locked_until = 0, None
        self.failed_attempts += 1
        self.record(LoginRefused(self.user_id, "wrong password"))
        if self.failed_attempts >= MAX_FAILURES:
            self.locked_until = now + LOCKOUT
            self.failed_attempts = 0
            self.record(LockedOut(self.user_id, self.locked_until))

    def password_matched(self) -> None:
        """The right password: admitted if the address is confirmed; failures forgotten."""
        if not self.confirmed:
            self.record(LoginRefused(self.user_id, "unconfirmed"))
            raise Unconfirmed("confirm your email address first: follow the link we sent")
        self.failed_attempts, self.locked_until = 0, None
        self.record(LoggedIn(self.user_id))

    def request_reset(self, token: str, digest: str, now: datetime, ttl: timedelta) -> None:
        self.reset = PendingToken(digest, now + ttl)
        self.record(ResetRequested(self.user_id, self.email, self.first_name, token, now + ttl))

    def check_reset(self, digest: str, now: datetime) -> None:
        if self.reset is None:
            raise TokenNotValid("the reset token is not valid")
        self.reset.check(digest, now, "reset")

    def complete_reset(self, digest: str, password_hash: str, now: datetime) -> None:
        """A new password from a reset link; it unlocks the account and, having come through
        the mailbox, proves the address too."""
        self.check_reset(digest, now)
        self.password_hash = password_hash
        self.reset = None
        self.failed_attempts, self.locked_until = 0, None
        self.confirmed, self.confirmation = True, None
        self.record(PasswordChanged(self.user_id))
