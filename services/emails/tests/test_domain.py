"""An email is sent at most once: once delivered or failed it is settled for good."""

from __future__ import annotations

from datetime import datetime

import pytest

from emails.domain import (
    Body,
    ContactRequest,
    ContactRequestReceived,
    Content,
    Email,
    EmailDelivered,
    EmailFailed,
    EmailQueued,
    EmailSettled,
    Status,
)


def email(now: datetime) -> Email:
    content = Content("Hi", "text", "<p>html</p>")
    return Email.request("e-1", "org-a", "a@example.com", None, "invitation", ("t",), content, now)


def test_a_requested_email_is_pending_with_its_body_and_queued(now: datetime) -> None:
    made = email(now)
    assert (made.status, made.subject, made.body) == (
        Status.PENDING,
        "Hi",
        Body("text", "<p>html</p>"),
    )
    assert made.recorded == (EmailQueued("e-1"),)


def test_delivered_drops_the_body_and_is_final(now: datetime) -> None:
    made = email(now)
    made.forget_recorded()
    made.deliver(now)
    assert (made.status, made.delivered_at, made.body) == (Status.DELIVERED, now, None)
    assert made.recorded == (EmailDelivered("e-1", "invitation"),)
    with pytest.raises(EmailSettled):
        made.deliver(now)
    with pytest.raises(EmailSettled):
        made.fail("late", now)


def test_failed_keeps_the_reason_and_is_final(now: datetime) -> None:
    made = email(now)
    made.forget_recorded()
    made.fail("SMTP 550 no such mailbox", now)
    assert (made.status, made.failure, made.failed_at, made.body) == (
        Status.FAILED,
        "SMTP 550 no such mailbox",
        now,
        None,
    )
    assert made.recorded == (EmailFailed("e-1", "invitation", "SMTP 550 no such mailbox"),)
    with pytest.raises(EmailSettled):
        made.deliver(now)


def test_a_contact_request_is_received_once(now: datetime) -> None:
    request = ContactRequest.receive("b@example.com", "Acme", "10", "Hello", now)
    assert request.recorded == (ContactRequestReceived(request.id),)
