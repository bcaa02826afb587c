"""The billing port: a payment provider keeps an organization's card and answers a customer
reference; identity keeps only that reference and what a person needs to recognise the card
(brand, last four digits, expiry). The sandbox provider checks a card as a processor's test
mode does, and charges nothing.

Card numbers and CVCs pass through here on their way to the provider and are never stored,
logged or echoed: `Card`'s repr hides them and no refusal quotes them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chassis.errors import RuleViolation
from identity.organizations.domain import BillingAccount


class CardRefused(RuleViolation):
    pass


@dataclass(frozen=True)
class Card:
    holder_name: str
    number: str
    expiry_month: int
    expiry_year: int
    cvc: str
    country: str
    postcode: str

    def __repr__(self) -> str:
        return f"Card(holder_name={self.holder_name!r}, number=***, cvc=***)"

    __str__ = __repr__


class BillingProvider(Protocol):
    async def register_customer(
        self, card: Card, customer_name: str, now: datetime
    ) -> BillingAccount:
        """Keep the card with the provider for `customer_name`; refused (CardRefused) when
        the provider would not take it."""
        ...


# Issuer identification number ranges (first digits), the lengths and the CVC's length of
# each accepted brand.
@dataclass(frozen=True)
class _Brand:
    name: str
    prefixes: tuple[tuple[int, int], ...]  # inclusive ranges of the leading digits
    lengths: tuple[int, ...]
    cvc_length: int

    def issued(self, digits: str) -> bool:
        return len(digits) in self.lengths and any(
            low <= int(digits[: len(str(low))]) <= high for low, high in self.prefixes
        )


_BRANDS = (
    _Brand("visa", ((4, 4),), (13, 16, 19), 3),
    _Brand("mastercard", ((51, 55), (2221, 2720)), (16,), 3),
    _Brand("amex", ((34, 34), (37, 37)), (15,), 4),
    _Brand("discover", ((6011, 6011), (644, 649), (65, 65)), (16, 19), 3),
    _Brand("jcb", ((3528, 3589),), (16, 19), 3),
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number carries: catches a mistyped digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_digits(number: str) -> str:
    """The number as typed, spaces and hyphens between groups allowed."""
    digits = number.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise CardRefused("the card number is not valid: 12 to 19 digits")
    if not luhn_valid(digits):
        raise CardRefused("the card number is not valid: check it for a mistyped digit")
    return digits


def card_brand(digits: str) -> _Brand:
    for brand in _BRANDS:
        if brand.issued(digits):
            return brand
    raise CardRefused("the card's brand is not accepted: " + ", ".join(b.name for b in _BRANDS))


def check_card(card: Card, now: datetime) -> tuple[str, str]:
    """The card's digits and brand, if a processor would take it now."""
    digits = card_digits(card.number)
    brand = card_brand(digits)
    if not 1 <= card.expiry_month <= 12:
        raise CardRefused("the card's expiry month is 1 to 12")
    # A card is valid through the last day of its expiry month.
    if (card.expiry_year, card.expiry_month) < (now.year, now.month):
        raise CardRefused("the card has expired")
    if not (card.cvc.isascii() and card.cvc.isdigit() and len(card.cvc) == brand.cvc_length):
        raise CardRefused(f"the card's security code has {brand.cvc_length} digits")
    return digits, brand.name


def card_expiry(card: Card) -> str:
    return f"{card.expiry_month:02d}/{card.expiry_year}"


class SandboxBilling:
    """A provider's test mode, in process: every valid card is accepted except the number
    processors document as always declined."""

    PROVIDER = "sandbox"
    DECLINED = "4000000000000002"

    async def register_customer(
        self, card: Card, customer_name: str, now: datetime
    ) -> BillingAccount:
        digits, brand = check_card(card, now)
        if digits == self.DECLINED:
            raise CardRefused("the card was declined by its issuer; use another card")
        return BillingAccount(
            provider=self.PROVIDER,
            customer_id="cus_" + secrets.token_hex(12),
            card_brand=brand,
            card_last4=digits[-4:],
            card_expiry=card_expiry(card),
        )
