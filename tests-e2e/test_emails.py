"""Emails through the gateway, with every service its own process and a real SMTP server:
contact sales, and an email requested as identity will publish an invitation (test_identity.py
follows the ones it sends already), read back by its tenant."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from contracts.emails import EmailRequested, Invitation
from simulators.mailbox import Mailbox
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer
from testkit.identity import People, Person
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
    people: People,
    person: Person,
    operator: Person,
    gateway: str,
) -> None:
    founder, member = await people.organization(person, await people.person())
    tenant = founder.organization_id
    guest = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    token = uuid.uuid4().hex
    invitation = Invitation(inviter_name="Grace", organization_name="Acme", token=token)
    envelope = await identity.publish(
        EmailRequested(to=guest, message=invitation, tags=["invitation"]), tenant_id=tenant
    )

    [arrived] = await eventually(lambda: sent_to(mailbox, guest), timeout=15)
    # Its link leads to the system's gateway, which serves the page.
    link = f"{gateway}/accept-invitation?token={token}"
    assert link in text_of(arrived)

    owner = founder.api

    async def listed() -> list[str]:
        answer = await owner.expect(200, "GET", "/emails", params={"tag": "invitation"})
        return [e["id"] for e in answer.json()]

    assert await eventually(listed) == [str(envelope.id)]
    other_owner = (await people.person()).api
    elsewhere = await other_owner.expect(200, "GET", "/emails", params={"tag": "invitation"})
    assert str(envelope.id) not in [e["id"] for e in elsewhere.json()]
    (await other_owner.call("GET", "/emails", params={"organization_id": tenant})).problem(403)
    (await member.api.call("GET", "/emails")).problem(403)
    named = await operator.api.expect(200, "GET", "/emails", params={"organization_id": tenant})
    assert [e["id"] for e in named.json()] == [str(envelope.id)]
