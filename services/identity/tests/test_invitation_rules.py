"""Invitations and card checks as rules, without I/O: tokens replaced on resend, expiry,
acceptance once; Luhn, brands, expiry and security codes as a processor's test mode checks
them, and a card's secrets kept out of its repr."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from identity.invitations.domain import (
    AlreadyAccepted,
    Guest,
    Invitation,
    InvitationAccepted,
    InvitationExpired,
    InvitationSent,
    InvitationStatus,
)
from identity.organizations.billing import (
    Card,
    CardRefused,
    SandboxBilling,
    card_brand,
    card_digits,
    check_card,
    luhn_valid,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def invitation() -> Invitation:
    return Invitation.send(
        "org1",
        "Acme",
        Guest("Guest@Example.com", "Grace", "Hopper"),
        "owner1",
        "Ada Lovelace",
        "inv_first-token",
        "digest-1",
        NOW,
        14 * DAY,
    )


def test_an_invitation_is_sent_with_its_token_and_expires_in_its_lifetime() -> None:
    sent = invitation()
    assert sent.email == "guest@example.com" and sent.token_digest == "digest-1"
    assert sent.expires_at == NOW + 14 * DAY and sent.status is InvitationStatus.PENDING
    [event] = sent.recorded
    assert isinstance(event, InvitationSent)
    assert (event.token, event.inviter_name, event.organization_name) == (
        "inv_first-token",
        "Ada Lovelace",
        "Acme",
    )
    assert not event.resent


def test_a_resend_replaces_the_token_and_restarts_the_expiry() -> None:
    sent = invitation()
    later = NOW + 13 * DAY
    sent.resend("Ada Lovelace", "Acme", "inv_second-token", "digest-2", later, 14 * DAY)
    assert sent.token_digest == "digest-2" and sent.expires_at == later + 14 * DAY
    resent = sent.recorded[-1]
    assert isinstance(resent, InvitationSent) and resent.resent
    assert resent.token == "inv_second-token"


def test_an_invitation_expires() -> None:
    sent = invitation()
    sent.check(sent.expires_at - timedelta(seconds=1))
    with pytest.raises(InvitationExpired):
        sent.check(sent.expires_at)
    with pytest.raises(InvitationExpired):
        sent.accept("user1", sent.expires_at + DAY)
    assert sent.status is InvitationStatus.PENDING


def test_an_invitation_is_accepted_once_and_then_never_resent() -> None:
    sent = invitation()
    sent.accept("user1", NOW + DAY)
    assert sent.status is InvitationStatus.ACCEPTED and sent.accepted_by == "user1"
    assert sent.recorded[-1] == InvitationAccepted(sent.id, "org1", "user1")
    with pytest.raises(AlreadyAccepted):
        sent.accept("user2", NOW + DAY)
    with pytest.raises(AlreadyAccepted):
        sent.resend("Ada Lovelace", "Acme", "inv_third-token", "digest-3", NOW + DAY)
    assert sent.token_digest == "digest-1"


A_CARD = Card("Ada Lovelace", "4242 4242 4242 4242", 12, 2030, "123", "GB", "SW1A 1AA")


def card(number: str = A_CARD.number, **fields: Any) -> Card:
    return replace(A_CARD, number=number, **fields)


def test_luhn() -> None:
    assert luhn_valid("4242424242424242") and luhn_valid("79927398713")
    assert not luhn_valid("4242424242424241") and not luhn_valid("79927398710")


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111-1111-1111-1111", "visa"),
        ("5555 5555 5555 4444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
    ],
)
def test_the_brand_comes_from_the_number(number: str, brand: str) -> None:
    assert card_brand(card_digits(number)).name == brand


@pytest.mark.parametrize(
    ("number", "fields", "reason"),
    [
        ("4242 4242 4242 4241", {}, "mistyped digit"),
        ("4242-4242-42x2-4242", {}, "12 to 19 digits"),
        ("1234", {}, "12 to 19 digits"),
        # Luhn-valid, but no accepted brand issues it.
        ("9999999999999995", {}, "brand is not accepted"),
        ("4242424242424242", {"expiry_month": 5, "expiry_year": 2026}, "expired"),
        ("4242424242424242", {"cvc": "12"}, "3 digits"),
        ("4242424242424242", {"cvc": "12a"}, "3 digits"),
        ("378282246310005", {"cvc": "123"}, "4 digits"),
    ],
)
def test_a_card_a_processor_would_refuse(number: str, fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(CardRefused, match=reason) as refused:
        check_card(card(number, **fields), NOW)
    assert number.replace(" ", "") not in str(refused.value)


def test_a_card_is_valid_through_its_expiry_month() -> None:
    assert check_card(card(expiry_month=6, expiry_year=2026), NOW) == ("4242424242424242", "visa")


async def test_the_sandbox_keeps_what_identifies_the_card_and_declines_its_test_number() -> None:
    account = await SandboxBilling().register_customer(card("5555555555554444"), "Acme", NOW)
    assert (account.provider, account.card_brand) == ("sandbox", "mastercard")
    assert (account.card_last4, account.card_expiry) == ("4444", "12/2030")
    assert account.customer_id.startswith("cus_")
    with pytest.raises(CardRefused, match="declined"):
        await SandboxBilling().register_customer(card(SandboxBilling.DECLINED), "Acme", NOW)


def test_a_cards_secrets_stay_out_of_its_repr() -> None:
    shown = repr(card("4242424242424242", cvc="987")) + str(card("4242424242424242", cvc="987"))
    assert "4242424242424242" not in shown and "987" not in shown
