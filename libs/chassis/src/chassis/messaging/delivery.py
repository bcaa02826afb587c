"""What becomes of a message once handled: acknowledged, retried later, or dead-lettered.

A failing handler is retried `max_delivery_attempts` times, each after a delay in the
queue's `.retry` queue; a message that can never be handled (malformed, wrong schema) is
dead-lettered at once. A dead letter carries its reason in a header and in the log.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import structlog
from faststream.rabbit import RabbitBroker, RabbitExchange
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, get_logger
from chassis.messaging.broker import ensure_confirmed
from chassis.messaging.topology import HandlerQueue

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)
Process = Callable[[RabbitMessage], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
DEAD_REASON_HEADER = "x-dead-reason"


class PoisonMessage(Exception):
    """The message can never be handled (malformed, wrong schema): dead-letter it at once."""


def parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        summary = [
            {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        raise PoisonMessage(f"invalid {model.__name__}: {json.dumps(summary)}") from exc


def attempt(message: RabbitMessage) -> int:
    return int((message.headers or {}).get(ATTEMPT_HEADER, 1))


def message_fields(queue: HandlerQueue, message: RabbitMessage) -> dict[str, Any]:
    """What the log says of one message: its request and correlation ids, queue and attempt."""
    headers = message.headers or {}
    correlation_id = headers.get(CORRELATION_ID_HEADER) or message.correlation_id
    return {
        # A message caused by no request is traced by its correlation id alone.
        "request_id": headers.get(REQUEST_ID_HEADER) or correlation_id,
        "correlation_id": correlation_id,
        "queue": queue.name,
        "message_id": message.message_id,
        "attempt": attempt(message),
    }


def message_context(
    queue: HandlerQueue, message: RabbitMessage, **extra: object
) -> AbstractContextManager[None]:
    """The message's fields bound for every log line while it is handled."""
    return structlog.contextvars.bound_contextvars(**message_fields(queue, message), **extra)


class Delivery:
    def __init__(
        self, broker: RabbitBroker, dead_letter: RabbitExchange, max_attempts: int
    ) -> None:
        self._broker = broker
        self._dead_letter = dead_letter
        self._max_attempts = max_attempts

    async def handle(self, queue: HandlerQueue, message: RabbitMessage, process: Process) -> None:
        """Process one message, then ack it, retry it later, or dead-letter it."""
        tried = attempt(message)
        with message_context(queue, message):
            try:
                await process(message)
            except PoisonMessage as exc:
                await self.dead_letter(queue, message, str(exc))
                return
            except Exception as exc:
                if not queue.retry or tried >= self._max_attempts:
                    await self.dead_letter(
                        queue, message, f"gave up after {tried} attempts: {exc!r}"
                    )
                else:
                    log.warning("message.retry_scheduled", error=repr(exc))
                    await self._retry_later(queue, message, tried)
                return
            await message.ack()

    async def _retry_later(self, queue: HandlerQueue, message: RabbitMessage, tried: int) -> None:
        confirmation = await self._broker.publish(
            message.body,
            routing_key=queue.retry_queue,
            persist=True,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            message_type=message.raw_message.type,
            reply_to=message.reply_to or None,
            headers={**(message.headers or {}), ATTEMPT_HEADER: tried + 1},
        )
        ensure_confirmed(confirmation, f"the retry of {message.message_id}")
        await message.ack()

    async def dead_letter(self, queue: HandlerQueue, message: RabbitMessage, reason: str) -> None:
        """Put a copy carrying the reason on `<queue>.dlq`, then ack the original.

        A reject cannot add headers; it is the fallback when the copy cannot be published
        (the message still reaches the DLQ through the queue's dead-letter exchange).
        """
        log.error("message.dead_lettered", reason=reason)
        raw = message.raw_message
        try:
            confirmation = await self._broker.publish(
                message.body,
                exchange=self._dead_letter,
                routing_key=queue.name,
                persist=True,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                content_type=message.content_type,
                message_type=raw.type,
                headers={**(raw.headers or {}), DEAD_REASON_HEADER: reason[:1000]},
            )
            ensure_confirmed(confirmation, f"the dead letter {message.message_id}")
        except Exception as exc:
            log.warning("message.dead_letter_copy_failed", error=repr(exc))
            await message.reject(requeue=False)
            return
        await message.ack()
