"""MinIO's AMQP notification target, for the S3 API server (`simulators.s3`).

moto keeps a bucket's notification configuration and tells `moto.s3.notifications.send_event`
of every event (it delivers to SQS, SNS and Lambda targets only). Here that function is
wrapped: an object-created event whose bucket has a queue configuration naming the target's
ARN, `arn:minio:sqs::<target id>:amqp`, with matching events and key filters, is published
to the target's exchange as MinIO publishes it (`event.Log`, JSON, persistent).

The events of a request are held until moto has answered it: moto sets an object's metadata
(its content type) after it raises the event, and completing a multipart upload raises a
`Put` before its `CompleteMultipartUpload`; the last creation event of each object is the one
sent.
A thread of its own publishes, with confirms, so requests never wait for the broker; while
the broker is down it logs and tries again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlsplit

import pika
import pika.exceptions
from moto.s3 import notifications, responses
from moto.s3.exceptions import InvalidNotificationARN
from moto.s3.models import FakeBucket, NotificationConfiguration
from moto.utilities.utils import PARTITION_NAMES

log = logging.getLogger("simulators.s3.events")

OBJECT_CREATED = "s3:ObjectCreated:"
RETRY_SECONDS = 1.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class AmqpTarget:
    """One of MinIO's AMQP targets (`MINIO_NOTIFY_AMQP_*_<target_id>`), its exchange durable and
    its messages persistent."""

    url: str
    exchange: str
    exchange_type: str
    routing_key: str
    target_id: str

    @property
    def arn(self) -> str:
        return f"arn:minio:sqs::{self.target_id}:amqp"

    @property
    def where(self) -> str:
        """The broker and exchange, without the credentials."""
        url = urlsplit(self.url)
        return f"{url.hostname}:{url.port or 5672}{url.path or '/'} exchange {self.exchange!r}"


@dataclass(frozen=True)
class _Message:
    body: bytes
    bucket: str
    event_name: str


class Publisher:
    """Publishes the target's messages from a thread of its own, in order, each confirmed."""

    def __init__(self, target: AmqpTarget) -> None:
        self._target = target
        self._queue: queue.Queue[_Message | None] = queue.Queue()
        self._connection: Any = None
        self._channel: Any = None
        self._thread = threading.Thread(target=self._run, name="amqp-target", daemon=True)
        self._thread.start()

    def put(self, message: _Message) -> None:
        self._queue.put(message)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish what is waiting (for up to `timeout` seconds), then let the broker go."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            while not self._published(message):
                time.sleep(RETRY_SECONDS)
        self._disconnect()

    def _published(self, message: _Message) -> bool:
        target = self._target
        try:
            channel = self._connected()
            channel.basic_publish(
                exchange=target.exchange,
                routing_key=target.routing_key,
                body=message.body,
                properties=pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    headers={"minio-bucket": message.bucket, "minio-event": message.event_name},
                ),
            )
        except (pika.exceptions.AMQPError, OSError) as error:
            log.warning("s3: could not publish to %s: %r; trying again", target.where, error)
            self._disconnect()
            return False
        return True

    def _connected(self) -> Any:
        if self._channel is None:
            target = self._target
            self._connection = pika.BlockingConnection(pika.URLParameters(target.url))
            channel = self._connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(
                exchange=target.exchange, exchange_type=target.exchange_type, durable=True
            )
            self._channel = channel
        return self._channel

    def _disconnect(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                log.debug("s3: the broker connection was already gone")


class _RequestEvents(threading.local):
    def __init__(self) -> None:
        # By (bucket, key): the request's last creation event, with its bucket and object.
        self.events: dict[tuple[str, str], tuple[str, Any, Any]] | None = None


def notifying(app: WsgiApp, target: AmqpTarget) -> tuple[WsgiApp, Publisher]:
    """`app` (moto's) publishing the target's notifications, and the publisher to stop when
    the server stops."""
    publisher = Publisher(target)
    held = _RequestEvents()
    send_event = notifications.send_event

    def holding(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        send_event(account_id, event_name, bucket, key)
        name = str(event_name.value)
        # Only creations are the target's; a put also raises ObjectTagging:Put after it.
        if held.events is not None and key is not None and name.startswith(OBJECT_CREATED):
            held.events[(bucket.name, key.name)] = (name, bucket, key)

    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        held.events = {}
        try:
            return app(environ, start_response)
        finally:
            events, held.events = held.events, None
            for event_name, bucket, key in events.values():
                message = _matching(target, event_name, bucket, key)
                if message is not None:
                    publisher.put(message)

    notifications.send_event = holding
    _accept_minio_arns(target)
    return served, publisher


def _accept_minio_arns(target: AmqpTarget) -> None:
    """Let a bucket's notification configuration name the target, as MinIO does: moto takes
    only AWS ARNs, and refuses one without its bucket's region (MinIO's have none)."""
    setattr(responses, "PARTITION_NAMES", [*PARTITION_NAMES, "minio"])  # noqa: B010
    configure = FakeBucket.set_notification_configuration

    def set_notification_configuration(bucket: Any, config: dict[str, Any] | None) -> None:
        queues = (config or {}).get("QueueConfiguration") or []
        minio = [queue["Queue"] for queue in queues if queue["Queue"].startswith("arn:minio:")]
        if not minio:
            configure(bucket, config)
            return
        # MinIO refuses the ARN of a target it does not have.
        if any(arn != target.arn for arn in minio):
            raise InvalidNotificationARN()
        assert config is not None
        bucket.notification_configuration = NotificationConfiguration(
            topic=config.get("TopicConfiguration"),
            queue=queues,
            cloud_function=config.get("CloudFunctionConfiguration"),
            event_bridge=config.get("EventBridgeConfiguration"),
        )

    FakeBucket.set_notification_configuration = set_notification_configuration  # type: ignore[method-assign,assignment]


def _matching(target: AmqpTarget, event_name: str, bucket: Any, key: Any) -> _Message | None:
    configuration = bucket.notification_configuration
    if not event_name.startswith(OBJECT_CREATED) or configuration is None:
        return None
    # MinIO sends an event to a target once, however many of the bucket's rules name it.
    if not any(
        rule.arn == target.arn and rule.matches(event_name, key.name)
        for rule in configuration.queue
    ):
        return None
    return _Message(_minio_message(event_name, bucket, key), bucket.name, event_name)


def _minio_message(event_name: str, bucket: Any, key: Any) -> bytes:
    """MinIO's `event.Log` of one event: its record as MinIO's `event.Event` marshals it."""
    now = datetime.now(UTC)
    content_type = key.metadata.get("content-type", "binary/octet-stream")
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": bucket.region_name,
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "eventName": event_name,
        "userIdentity": {"principalId": bucket.account_id},
        "requestParameters": {"principalId": bucket.account_id, "region": bucket.region_name},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {
                "name": bucket.name,
                "ownerIdentity": {"principalId": bucket.account_id},
                "arn": f"arn:aws:s3:::{bucket.name}",
            },
            "object": {
                # As Go's url.QueryEscape: only letters, digits and `-_.~` stay as they are.
                "key": quote_plus(key.name, safe=""),
                "size": key.size,
                "eTag": key.etag.strip('"'),
                "contentType": content_type,
                "userMetadata": {"content-type": content_type},
                # The event's time in nanoseconds, in hexadecimal.
                "sequencer": f"{time.time_ns():X}",
            },
        },
        "source": {"host": "", "port": "", "userAgent": ""},
    }
    log_ = {"EventName": event_name, "Key": f"{bucket.name}/{key.name}", "Records": [record]}
    return json.dumps(log_).encode()
