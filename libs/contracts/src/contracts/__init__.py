"""The published language: event envelope, events and commands shared by every service."""

from contracts.commands import Command
from contracts.envelope import Envelope, IntegrationEvent, TenantEvent

__all__ = ["Command", "Envelope", "IntegrationEvent", "TenantEvent"]
