"""The RabbitMQ broker (FastStream), the exchanges every service shares, publisher confirms."""

from __future__ import annotations

from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange
from pamqp.commands import Basic

from chassis.config import MessagingSettings


def events_exchange(settings: MessagingSettings) -> RabbitExchange:
    return RabbitExchange(settings.events_exchange, type=ExchangeType.TOPIC, durable=True)


def dead_letter_exchange(settings: MessagingSettings) -> RabbitExchange:
    return RabbitExchange(f"{settings.events_exchange}.dlx", type=ExchangeType.DIRECT, durable=True)


def create_broker(settings: MessagingSettings) -> RabbitBroker:
    return RabbitBroker(
        settings.amqp_url,
        app_id=settings.service_name,
        reconnect_interval=1.0,
        default_channel=Channel(prefetch_count=settings.prefetch_count),
        logger=None,
        # No dependency injection: handlers take the message as it is (see subscriptions.py).
        # Resolving a `Context` argument runs a worker thread per message, the largest cost
        # of consuming when it was on.
        apply_types=False,
    )


def ensure_confirmed(confirmation: object, what: str) -> None:
    """Publishing returns the broker's confirm frame; anything but an ack means not stored."""
    if not isinstance(confirmation, Basic.Ack):
        raise RuntimeError(f"broker did not confirm {what}: {confirmation!r}")
