"""What the emails service consumes: every email requested, and its own deliveries."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.emails import EmailRequested
from emails.service import DeliveryDue, EmailService, EmailsTransaction


def subscribe(subscriptions: Subscriptions[EmailsTransaction], emails: EmailService) -> None:
    subscriptions.on_event(EmailRequested, emails.email_requested)
    # Sending is an effect outside the database: each delivery on its own, in no transaction.
    subscriptions.on_event_alone(DeliveryDue, emails.deliver)
