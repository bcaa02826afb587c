"""Emails through the gateway, with every service its own process and a real SMTP server:
contact sales, and emails requested as identity publishes them, read back by their tenants."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from email.message import EmailMessage

from contracts.emails import EmailRequested, Invitation
from simulators.mailbox import Mailbox
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer
from testkit.waiting import eventually


def sent_to(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.messages() if address in str(m["To"])]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


async def test_contact_sales_emails_the_sales_team_and_the_prospect(
    anonymous: PlatformClient, mailbox: Mailbox
) -> None:
    prospect = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    company = f"Acme {uuid.uuid4().hex[:6]}"
    body = {"email": prospect, "company": company, "message": "We have 40 cars to share."}
    await anonymous.expect(202, "POST", "/contact-sales", json=body)

    [confirmation] = await eventually(lambda: sent_to(mailbox, prospect), timeout=15)
    assert company in text_of(confirmation)
    leads = await eventually(
        lambda: [m for m in mailbox.messages() if company in str(m["Subject"])], timeout=15
    )
    [lead] = leads
    assert "sales@" in str(lead["To"])
    assert prospect in text_of(lead)

    refused = await anonymous.call("POST", "/contact-sales", json={"email": prospect})
    assert {e.field for e in refused.problem(422).errors or []} >= {"company", "message"}


async def test_an_invitation_arrives_and_only_its_organization_reads_it(
    identity: EventProducer,
    mailbox: Mailbox,
    caller: Callable[..., PlatformClient],
    tenant: str,
) -> None:
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    token = uuid.uuid4().hex
    invitation = Invitation(inviter_name="Grace", organization_name="Acme", token=token)
    envelope = await identity.publish(
        EmailRequested(to=guest, message=invitation, tags=["invitation"]), tenant_id=tenant
    )

    [arrived] = await eventually(lambda: sent_to(mailbox, guest), timeout=15)
    link = f"http://localhost:8080/accept-invitation?token={token}"
    assert link in text_of(arrived)

    owner = caller(user_id="owner-1", org_roles=["owner"])

    async def listed() -> list[str]:
        answer = await owner.expect(200, "GET", "/emails", params={"tag": "invitation"})
        return [e["id"] for e in answer.json()]

    assert await eventually(listed) == [str(envelope.id)]
    other_owner = caller(tenant_id=f"{tenant}-other", user_id="owner-2", org_roles=["owner"])
    elsewhere = await other_owner.expect(200, "GET", "/emails", params={"tag": "invitation"})
    assert str(envelope.id) not in [e["id"] for e in elsewhere.json()]
    (await other_owner.call("GET", "/emails", params={"organization_id": tenant})).problem(403)
    (await caller(user_id="member-1", org_roles=["member"]).call("GET", "/emails")).problem(403)
    operator = caller(tenant_id=None, user_id="ops-1", roles=["operations"])
    named = await operator.expect(200, "GET", "/emails", params={"organization_id": tenant})
    assert [e["id"] for e in named.json()] == [str(envelope.id)]
