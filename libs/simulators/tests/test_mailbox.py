"""What a test or a person reads from the mailbox's messages: whose they are, and the token of
the link they would follow."""

from __future__ import annotations

from email.message import EmailMessage

from simulators.mailbox import link_token, sent_to


def message(to: str, text: str, html: str | None = None) -> EmailMessage:
    email = EmailMessage()
    email["To"] = to
    email.set_content(text)
    if html is not None:
        email.add_alternative(html, subtype="html")
    return email


def test_the_token_of_the_link_to_the_page_named() -> None:
    text = (
        "Reset: http://localhost:8080/reset-password?token=r1\n"
        "Confirm: http://localhost:8080/confirm-registration?token=abc_-9&x=1\n"
    )
    received = message("Ada <ada@example.com>", text, html="<a href='/confirm-registration'>")
    assert link_token(received, "/confirm-registration") == "abc_-9"
    assert link_token(received, "/reset-password") == "r1"
    assert link_token(received, "/accept-invitation") is None
    no_token = message("ada@example.com", "http://localhost:8080/confirm-registration\n")
    assert link_token(no_token, "/confirm-registration") is None


def test_messages_sent_to_an_address_whatever_its_case_and_display_name() -> None:
    mail = [message("Ada <Ada@Example.com>", "a"), message("bob@example.com", "b")]
    assert sent_to(mail, "ada@example.com") == [mail[0]]
    assert sent_to(mail, "carol@example.com") == []
