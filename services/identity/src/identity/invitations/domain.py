"""Invitations of guests into an organization: sent by email with a single-use token that
expires, resent with a new token, accepted once by registering with it; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import Conflict, Gone, NotFound
from chassis.logging import new_id

LIFETIME = timedelta(days=14)


class InvitationNotFound(NotFound):
    pass


class AlreadyAccepted(Conflict):
    pass


class InvitationExpired(Gone):
    pass


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Guest:
    """Who is invited: the address the invitation goes to, and the names it greets them by."""

    email: str
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class InvitationSent:
    """An invitation's email, the first or a resent one."""

    invitation_id: str
    organization_id: str
    email: str
    first_name: str | None
    invited_by: str
    inviter_name: str
    organization_name: str
    # The token itself, which only the email carries; identity keeps its digest.
    token: str
    expires_at: datetime
    resent: bool


@dataclass(frozen=True)
class InvitationAccepted:
    invitation_id: str
    organization_id: str
    user_id: str


@dataclass
class Invitation(Aggregate):
    id: str
    organization_id: str
    email: str
    first_name: str | None
    last_name: str | None
    invited_by: str
    token_digest: str
    created_at: datetime
    expires_at: datetime
    status: InvitationStatus = InvitationStatus.PENDING
    accepted_by: str | None = None
    accepted_at: datetime | None = None

    @classmethod
    def send(
        cls,
        organization_id: str,
        organization_name: str,
        guest: Guest,
        inviter_id: str,
        inviter_name: str,
        token: str,
        token_digest: str,
        now: datetime,
        lifetime: timedelta = LIFETIME,
    ) -> Invitation:
        invitation = cls(
            new_id(),
            organization_id,
            guest.email.lower(),
            guest.first_name,
            guest.last_name,
            inviter_id,
            token_digest,
            now,
            now + lifetime,
        )
        invitation._sent(inviter_name, organization_name, token, resent=False)
        return invitation

    def resend(
        self,
        inviter_name: str,
        organization_name: str,
        token: str,
        token_digest: str,
        now: datetime,
        lifetime: timedelta = LIFETIME,
    ) -> None:
        """A new token replaces the old one, which is refused from now on, and the
        invitation runs for its whole lifetime again."""
        if self.status is InvitationStatus.ACCEPTED:
            raise AlreadyAccepted("this invitation was accepted already: nothing to resend")
        self.token_digest = token_digest
        self.expires_at = now + lifetime
        self._sent(inviter_name, organization_name, token, resent=True)

    def check(self, now: datetime) -> None:
        """Refuse an invitation that can no longer be accepted."""
        if self.status is InvitationStatus.ACCEPTED:
            raise AlreadyAccepted("this invitation was accepted already; log in instead")
        if now >= self.expires_at:
            raise InvitationExpired(
                "this invitation has expired; ask the organization's owner to resend it"
            )

    def accept(self, user_id: str, now: datetime) -> None:
        self.check(now)
        self.status = InvitationStatus.ACCEPTED
        self.accepted_by, self.accepted_at = user_id, now
        self.record(InvitationAccepted(self.id, self.organization_id, user_id))

    def _sent(self, inviter_name: str, organization_name: str, token: str, resent: bool) -> None:
        self.record(
            InvitationSent(
                self.id,
                self.organization_id,
                self.email,
                self.first_name,
                self.invited_by,
                inviter_name,
                organization_name,
                token,
                self.expires_at,
                resent,
            )
        )
