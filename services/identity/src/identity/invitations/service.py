"""Use cases of invitations: invite a guest, resend, verify, and accept (by registering with
the token, or by signing in through SSO for the first time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import Conflict, NotAllowed
from chassis.storage.unit_of_work import Scopes, UnitOfWork
from chassis.web.auth import Caller
from identity.invitations.domain import LIFETIME, Guest, Invitation, InvitationNotFound
from identity.invitations.repository import AlreadyInvited, InvitationQueries, InvitationRepository
from identity.opaque import Secret, digest
from identity.organizations.domain import Organization
from identity.organizations.repository import OrganizationQueries
from identity.organizations.service import OrganizationsTransaction, owned_organization
from identity.users.domain import MEMBER_ROLES, EndUser

TOKEN_PREFIX = "inv_"


class AlreadyRegistered(Conflict):
    pass


class InvitationsTransaction(OrganizationsTransaction, Protocol):
    @property
    def invitations(self) -> InvitationRepository: ...


@dataclass(frozen=True)
class InvitationView:
    """What the guest holding the token is shown before they register."""

    invitation: Invitation
    organization_name: str


class Invitations:
    def __init__(
        self,
        uow: UnitOfWork[InvitationsTransaction],
        invitations: InvitationQueries,
        organizations: OrganizationQueries,
        lifetime: timedelta = LIFETIME,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._invitations = invitations
        self._organizations = organizations
        self._lifetime = lifetime
        self._clock = clock

    async def invite(self, caller: Caller, guest: Guest) -> Invitation:
        """Invite a guest into the organization the caller acts for (its owners only)."""
        organization_id = caller.tenant_id
        if organization_id is None:
            raise NotAllowed("the caller acts for no organization")

        async def work(tx: InvitationsTransaction) -> Invitation:
            inviter, organization = await owned_organization(tx, caller.user_id, organization_id)
            if await tx.users.by_email(guest.email) is not None:
                raise AlreadyRegistered(
                    f"{guest.email} is registered already; add them as a member instead "
                    f"(POST /organizations/{organization_id}/members)"
                )
            return await self._send(tx, inviter, organization, guest)

        return await self._uow.run(work, tenant_id=organization_id, actor_id=caller.user_id)

    async def add_or_invite(
        self, caller: Caller, organization_id: str, guest: Guest
    ) -> EndUser | Invitation:
        """The person registered with that address joins the organization as a member; any
        other address is invited to it (its owners only)."""

        async def work(tx: InvitationsTransaction) -> EndUser | Invitation:
            inviter, organization = await owned_organization(tx, caller.user_id, organization_id)
            registered = await tx.users.by_email(guest.email)
            if registered is None:
                return await self._send(tx, inviter, organization, guest)
            registered.join(organization_id, MEMBER_ROLES)
            await tx.users.save(registered)
            return registered

        return await self._uow.run(work, tenant_id=organization_id, actor_id=caller.user_id)

    async def _send(
        self,
        tx: InvitationsTransaction,
        inviter: EndUser,
        organization: Organization,
        guest: Guest,
    ) -> Invitation:
        # A second invitation would silently void the first email's link (a double click
        # would do it): the owner resends the pending one explicitly instead.
        pending = await tx.invitations.pending(organization.id, guest.email)
        if pending is not None:
            raise AlreadyInvited(
                f"{guest.email} has a pending invitation already; resend it instead "
                f"(POST /invitations/{pending.id}/resend)"
            )
        secret = Secret.new(TOKEN_PREFIX)
        invitation = Invitation.send(
            organization.id,
            organization.name,
            guest,
            inviter.id,
            inviter.display_name,
            secret.value,
            secret.digest,
            self._clock(),
            self._lifetime,
        )
        await tx.invitations.add(invitation)
        return invitation

    async def resend(self, caller: Caller, invitation_id: str) -> Invitation:
        """A new token by a new email; the old token is refused from now on, and the
        invitation runs for its whole lifetime again (owners of its organization only)."""
        known = await self._invitations.get(invitation_id)
        if known is None:
            raise InvitationNotFound(f"there is no invitation {invitation_id}")
        secret = Secret.new(TOKEN_PREFIX)

        async def work(tx: InvitationsTransaction) -> Invitation:
            invitation = await tx.invitations.get(invitation_id)
            caller_user = await tx.users.get(caller.user_id)
            if (
                invitation is None
                or caller_user is None
                or not caller_user.is_member(invitation.organization_id)
            ):
                # To anyone outside its organization it does not exist.
                raise InvitationNotFound(f"there is no invitation {invitation_id}")
            inviter, organization = await owned_organization(
                tx, caller.user_id, invitation.organization_id
            )
            invitation.resend(
                inviter.display_name,
                organization.name,
                secret.value,
                secret.digest,
                self._clock(),
                self._lifetime,
            )
            await tx.invitations.save(invitation)
            return invitation

        return await self._uow.run(work, tenant_id=known.organization_id, actor_id=caller.user_id)

    async def pending(self, token: str) -> Invitation:
        """The invitation the token stands for, while it can be accepted."""
        invitation = await self._invitations.by_token(digest(token))
        if invitation is None:
            raise InvitationNotFound("the invitation token is not valid")
        invitation.check(self._clock())
        return invitation

    async def verify(self, token: str) -> InvitationView:
        invitation = await self.pending(token)
        organization = await self._organizations.organization(invitation.organization_id)
        if organization is None:
            raise InvitationNotFound("the invitation token is not valid")
        return InvitationView(invitation, organization.name)

    async def accept(
        self,
        transaction: Scopes[InvitationsTransaction],
        pending: Invitation,
        user_id: str,
        now: datetime,
    ) -> EndUser:
        """Within `transaction`, the user (written in it already) joins the inviting
        organization as a member and the invitation (`pending`, as found by its token before
        the transaction) is spent; the user as they are now.

        It opens its own scope, acting for the inviting organization: the membership and the
        acceptance are that organization's events (its owners read their audit), whereas
        the registration that carries the token acts for the user's own organization.
        """
        tx = transaction.scope(pending.organization_id, user_id)
        invitation = await tx.invitations.by_token(pending.token_digest)
        if invitation is None:
            # Resent since it was looked up: this token is no longer valid.
            raise InvitationNotFound("the invitation token is not valid")
        invitation.accept(user_id, now)
        user = await tx.users.get(user_id)
        if user is None:
            raise NotAllowed(f"there is no user {user_id} to accept the invitation")
        user.join(invitation.organization_id, MEMBER_ROLES)
        await tx.invitations.save(invitation)
        await tx.users.save(user)
        return user
