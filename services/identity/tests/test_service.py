"""Identity's use cases on the in-memory unit of work, in milliseconds: what is stored,
answered and published (events, audit records, emails with their tokens), and that a refusal
stores nothing but what it must (a wrong password counts, and is audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.errors import Gone, Locked, NotAllowed, Unauthenticated
from chassis.web.auth import Caller
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.emails import EmailRequested, Invitation, PasswordReset, RegistrationConfirmation
from contracts.identity import MembershipAdded, OrganizationCreated, UserRegistered
from contracts.provisioning import TenantProvisioned
from identity.credentials.domain import WeakPassword
from identity.credentials.service import NewPerson
from identity.invitations.domain import Guest
from identity.tokens.service import RefreshRefused
from identity.users.repository import EmailTaken

PASSWORD = "Correct-horse-9"


def ada(email: str = "ada@example.com", password: str = PASSWORD) -> NewPerson:
    return NewPerson(email, password, "Ada", "Lovelace", "Europe/London")


def emailed_token(identity: Identity, template: type) -> str:  # noqa: F821
    [request] = [r for r in identity.uow.events(EmailRequested) if isinstance(r.message, template)]
    return request.message.token


def audits(identity: Identity, action: str) -> list[AuditRecorded]:  # noqa: F821
    return [a for a in identity.uow.events(AuditRecorded) if a.action == action]


async def registered(identity: Identity, email: str = "ada@example.com") -> str:  # noqa: F821
    user = await identity.credentials.register(ada(email))
    await identity.credentials.confirm(emailed_token(identity, RegistrationConfirmation))
    return user.id


async def test_registration_publishes_the_person_their_organization_and_the_email(
    identity: Identity,  # noqa: F821
) -> None:
    user = await identity.credentials.register(ada("Ada@Example.com"))
    state = identity.uow.state
    assert state.users[user.id].email == "ada@example.com"
    organization = state.organizations[user.default_organization_id]
    assert organization.kind == "personal" and organization.created_by == user.id
    [registered_event] = identity.uow.events(UserRegistered)
    assert registered_event.user_id == user.id and registered_event.kind == "person"
    [created] = identity.uow.events(OrganizationCreated)
    assert created.organization_id == organization.id
    [membership] = identity.uow.events(MembershipAdded)
    assert set(membership.roles) == {"owner", "billing_admin", "member"}
    envelopes = [e for e in identity.uow.published if e.type == OrganizationCreated.event_type]
    assert envelopes[0].tenant_id == organization.id
    token = emailed_token(identity, RegistrationConfirmation)
    stored = state.credentials[user.id]
    assert stored.confirmation is not None and stored.confirmation.digest != token
    assert token not in repr(state)


async def test_a_refused_registration_stores_nothing(identity: Identity) -> None:  # noqa: F821
    with pytest.raises(WeakPassword):
        await identity.credentials.register(ada(password="password"))
    await identity.credentials.register(ada())
    commits = identity.uow.commits
    with pytest.raises(EmailTaken):
        await identity.credentials.register(ada())
    assert identity.uow.commits == commits and len(identity.uow.state.users) == 1


async def test_operators_by_address(identity: Identity) -> None:  # noqa: F821
    user = await identity.credentials.register(ada("ops@example.com"))
    assert user.roles == {"standard", "operations"}


async def test_login_lockout_and_its_audit_trail(identity: Identity) -> None:  # noqa: F821
    user_id = await registered(identity)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            await identity.credentials.authenticate("ada@example.com", "Wrong-password-1")
    assert identity.uow.state.credentials[user_id].failed_attempts == 4, "refusals are stored"
    with pytest.raises(Unauthenticated):
        await identity.credentials.authenticate("ada@example.com", "Wrong-password-1")
    with pytest.raises(Locked):
        await identity.credentials.authenticate("ada@example.com", PASSWORD)
    refusals = audits(identity, "identity.login_refused")
    assert len(refusals) == 6 and {a.outcome for a in refusals} == {AuditOutcome.REFUSED}
    assert len(audits(identity, "identity.account_locked")) == 1

    identity.later(timedelta(minutes=10))
    session = await identity.credentials.authenticate("ada@example.com", PASSWORD)
    assert session.user_id == user_id and len(audits(identity, "identity.logged_in")) == 1


async def test_an_unknown_address_is_refused_like_a_wrong_password(
    identity: Identity,  # noqa: F821
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await identity.credentials.authenticate("nobody@example.com", PASSWORD)
    assert str(refused.value) == "wrong email or password"
    assert identity.hasher.wasted == 1
    [audit] = audits(identity, "identity.login_refused")
    assert "nobody" not in audit.target, "what was typed is kept only as a digest"


async def test_unconfirmed_people_cannot_log_in(identity: Identity) -> None:  # noqa: F821
    await identity.credentials.register(ada())
    with pytest.raises(NotAllowed):
        await identity.credentials.authenticate("ada@example.com", PASSWORD)


async def test_refresh_rotates_and_a_replay_revokes_the_family(
    identity: Identity,  # noqa: F821
) -> None:
    await registered(identity)
    first = await identity.credentials.authenticate("ada@example.com", PASSWORD)
    second = await identity.tokens.refresh(first.refresh_token)
    third = await identity.tokens.refresh(second.refresh_token)
    with pytest.raises(RefreshRefused):
        await identity.tokens.refresh(first.refresh_token)
    with pytest.raises(RefreshRefused):
        await identity.tokens.refresh(third.refresh_token)
    tokens = identity.uow.state.refresh_tokens.values()
    assert all(t.revoked_at is not None for t in tokens)
    assert len(audits(identity, "identity.refresh_tokens_revoked")) == 1


async def test_a_refresh_token_expires(identity: Identity) -> None:  # noqa: F821
    await registered(identity)
    session = await identity.credentials.authenticate("ada@example.com", PASSWORD)
    identity.later(timedelta(days=14))
    with pytest.raises(RefreshRefused):
        await identity.tokens.refresh(session.refresh_token)


async def test_a_reset_sets_the_password_and_ends_every_login(
    identity: Identity,  # noqa: F821
) -> None:
    await registered(identity)
    session = await identity.credentials.authenticate("ada@example.com", PASSWORD)
    await identity.credentials.request_reset("ada@example.com")
    await identity.credentials.request_reset("nobody@example.com")
    token = emailed_token(identity, PasswordReset)
    identity.later(timedelta(hours=2))
    with pytest.raises(Gone):
        await identity.credentials.complete_reset(token, "Another-horse-7")
    identity.later(timedelta(hours=-2))
    await identity.credentials.complete_reset(token, "Another-horse-7")
    with pytest.raises(RefreshRefused):
        await identity.tokens.refresh(session.refresh_token)
    await identity.credentials.authenticate("ada@example.com", "Another-horse-7")


async def test_an_invitation_accepted_on_registration(identity: Identity) -> None:  # noqa: F821
    founder_id = await registered(identity)
    founder = Caller(founder_id, None)
    company = await identity.organizations.create(founder, "Acme")
    owner = Caller(founder_id, company.id, org_roles=frozenset({"owner"}))
    invitation = await identity.invitations.invite(owner, Guest("kim@example.com", "Kim"))
    token = emailed_token(identity, Invitation)
    kim = await identity.credentials.register(ada("kim@example.com"), token)
    assert kim.roles_in(company.id) == {"member"}
    assert identity.uow.state.credentials[kim.id].confirmed, "the invited address is proven"
    assert identity.uow.state.invitations[invitation.id].status == "accepted"
    joined = [e for e in identity.uow.published if e.type == MembershipAdded.event_type]
    assert joined[-1].tenant_id == company.id, "the membership is the inviting organization's"


async def test_provisioned_once(identity: Identity) -> None:  # noqa: F821
    user = await identity.credentials.register(ada())
    event = TenantProvisioned(organization_id=user.default_organization_id)
    for _ in range(2):
        await identity.uow.deliver(
            identity.organizations.tenant_provisioned, event, tenant_id=event.organization_id
        )
    organization = identity.uow.state.organizations[user.default_organization_id]
    assert organization.provisioned_at is not None
    assert len(audits(identity, "identity.organization_provisioned")) == 1
