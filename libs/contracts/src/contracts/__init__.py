"""The published language: event envelope, events and commands shared by every service."""

from contracts.envelope import DomainEvent, Envelope

__all__ = ["DomainEvent", "Envelope"]
