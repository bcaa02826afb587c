"""Request/reply for commands that need an answer, with a timeout.

One exclusive reply queue per process and a future per correlation id, so any number of
commands can be in flight at once: FastStream's `broker.request()` takes a lock per call,
about 600 round trips a second whatever the concurrency, less than half of these
(bench/command_round_trips.py measures both). The command is published through FastStream;
the reply queue is consumed with aio-pika, on the queue object the broker declared.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, TypeVar, cast

from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitBroker, RabbitQueue
from pydantic import BaseModel

from chassis.clock import Clock, utc_now
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids, get_logger
from contracts import Command

log = get_logger(__name__)
R = TypeVar("R", bound=BaseModel)


class CommandUnavailable(Exception):
    """The command could not be sent, or no answer came in time."""


class CommandTimeout(CommandUnavailable):
    pass


class CommandBus:
    def __init__(self, broker: RabbitBroker, service_name: str, clock: Clock = utc_now) -> None:
        self._broker = broker
        self._reply_queue = f"{service_name}.replies.{uuid.uuid4().hex[:12]}"
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._clock = clock

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        queue = await self._broker.declare_queue(
            RabbitQueue(self._reply_queue, exclusive=True, auto_delete=True, durable=False)
        )
        await queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future and not future.done():
            future.set_result(message.body)
        else:
            log.warning("command.late_reply", correlation_id=message.correlation_id)

    async def send(self, command: Command[R], timeout: float) -> R:
        """Send `command` to its queue and wait for its reply; CommandTimeout when none comes.

        The command carries its deadline, the end of the timeout, and expires then in
        RabbitMQ too: one still queued is dropped, and one taken off the queue before and
        handled after is refused by its receiver (`Command.expired`). The caller still
        compensates when no answer came, since the command may have been acted on just
        before its deadline.
        """
        queue = command.queue
        deadline = self._clock() + timedelta(seconds=timeout)
        command = command.model_copy(update={"deadline": deadline})
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        request_id, trace_id = current_ids()
        headers: dict[str, Any] = {CORRELATION_ID_HEADER: trace_id or correlation_id}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        try:
            try:
                await self._broker.publish(
                    command.model_dump_json().encode(),
                    routing_key=queue,
                    reply_to=self._reply_queue,
                    correlation_id=correlation_id,
                    content_type="application/json",
                    expiration=timeout,
                    headers=headers,
                    mandatory=False,
                    timeout=timeout,
                )
            except Exception as exc:
                raise CommandUnavailable(f"could not send to {queue}: {exc!r}") from exc
            body = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise CommandTimeout(f"no reply from {queue} within {timeout}s") from exc
        finally:
            self._pending.pop(correlation_id, None)
        return cast(R, type(command).reply.model_validate_json(body))
