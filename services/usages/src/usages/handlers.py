"""The events of other services the usages service records."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.usages import UsageRecorded
from usages.service import UsageService, UsagesTransaction


def subscribe(subscriptions: Subscriptions[UsagesTransaction], usages: UsageService) -> None:
    subscriptions.on_event(UsageRecorded, usages.usage_recorded)
