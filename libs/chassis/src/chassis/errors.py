"""The kinds of failure a use case reports, whatever the transport.

Services subclass these for their own rules (`class SlotConflict(Conflict)`); the web part
answers each kind with its HTTP status, so no service keeps a table of exceptions.
"""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can act on, with a message that tells them how."""


class RuleViolation(DomainError, ValueError):
    """The request breaks a rule of the domain (422)."""


class Unauthenticated(DomainError):
    """The caller's proof of who they are (password, token, key) is refused (401)."""


class NotFound(DomainError):
    """No such thing, as far as this caller may know (404)."""


class Conflict(DomainError):
    """The request clashes with the current state (409)."""


class NotAllowed(DomainError):
    """This caller may not do that to that thing (403)."""


class Gone(DomainError):
    """The thing existed and is used up or expired for good: a token spent or past its
    time (410)."""


class Locked(DomainError):
    """The thing is locked for a while; `retry_after` seconds until it opens (423)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something the use case needs did not answer in time; trying again may work (503)."""
