"""Every template renders its subject, text and HTML; the HTML escapes what it is sent, the
text shows it as it is; links are made from the website's address, never from the event."""

from __future__ import annotations

import pytest

from contracts.emails import (
    ContactSalesConfirmation,
    ContactSalesLead,
    EmailMessage,
    Invitation,
    ListCompleted,
    ListFailed,
    PasswordReset,
    RegistrationConfirmation,
)
from emails.rendering import Templates

SITE = "https://app.example.com/"
TOKEN = "t0k3n_" + "x" * 20
EVIL = '<script>alert("x")</script> & Co'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"

MESSAGES: dict[str, tuple[EmailMessage, str | None, str]] = {
    "registration_confirmation": (
        RegistrationConfirmation(first_name=EVIL, token=TOKEN),
        f"https://app.example.com/confirm-registration?token={TOKEN}",
        "Confirm your registration",
    ),
    "invitation": (
        Invitation(inviter_name=EVIL, organization_name="Acme", token=TOKEN),
        f"https://app.example.com/accept-invitation?token={TOKEN}",
        f"{EVIL} invited you to join Acme",
    ),
    "password_reset": (
        PasswordReset(first_name=EVIL, token=TOKEN),
        f"https://app.example.com/reset-password?token={TOKEN}",
        "Reset your password",
    ),
    "contact_sales_lead": (
        ContactSalesLead(email="buyer@example.com", company="Acme", message=EVIL),
        None,
        "New lead: Acme",
    ),
    "contact_sales_confirmation": (
        ContactSalesConfirmation(company=EVIL),
        None,
        "We received your request",
    ),
    "list_completed": (
        ListCompleted(list_id="a/b?c", list_name=EVIL, rows_total=10, rows_failed=2),
        "https://app.example.com/lists/a%2Fb%3Fc",
        f"Your list {EVIL} is ready",
    ),
    "list_failed": (
        ListFailed(list_id="l-1", list_name="Leads", reason=EVIL),
        "https://app.example.com/lists/l-1",
        "Your list Leads could not be processed",
    ),
}


def test_there_is_a_case_for_every_kind_of_message() -> None:
    kinds = {m.template for m, _, _ in MESSAGES.values()}
    union = EmailMessage.__origin__.__args__  # type: ignore[attr-defined]
    assert kinds == {kind.model_fields["template"].default for kind in union}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_each_template_renders_text_and_escaped_html_with_its_link(kind: str) -> None:
    message, link, subject = MESSAGES[kind]
    content = Templates(SITE).render(message)

    assert content.subject == subject
    assert EVIL in content.text, "the text part shows the value as sent"
    assert EVIL not in content.html and ESCAPED in content.html, "the HTML part escapes it"
    assert content.html.lstrip().startswith("<!DOCTYPE html>")
    if link is not None:
        assert link in content.text
        assert f'href="{link}"' in content.html
    else:
        assert "http" not in content.text


def test_a_subject_is_one_line_whatever_the_values() -> None:
    message = Invitation(
        inviter_name="Eve\r\nBcc: all@example.com", organization_name="A", token=TOKEN
    )
    subject = Templates(SITE).render(message).subject
    assert "\n" not in subject and "\r" not in subject
    assert subject == "Eve Bcc: all@example.com invited you to join A"


def test_a_completed_list_says_how_many_rows_failed() -> None:
    done = ListCompleted(list_id="l", list_name="L", rows_total=10, rows_failed=2)
    clean = ListCompleted(list_id="l", list_name="L", rows_total=10, rows_failed=0)
    assert "8 of 10 rows were enriched, 2 failed." in Templates(SITE).render(done).text
    assert "10 of 10 rows were enriched." in Templates(SITE).render(clean).text
