"""An S3 server's object-created notifications, as MinIO publishes them to an AMQP target.

MinIO publishes, for each event a bucket's notification configuration asks for, one JSON
message: `{"EventName": ..., "Key": "<bucket>/<key>", "Records": [<one S3 event record>]}`
(the record as AWS documents it, with `eventSource` `minio:s3`); the object's key is
URL-encoded in the record and plain in `Key`. The test S3 server (`simulators.s3`) publishes
the same.

    await notify_object_created(store, "arn:minio:sqs::PRIMARY:amqp", prefix="lists/")
    ...
    notification = BucketNotification.model_validate_json(body)   # the raw message body
    for created in created_objects(notification): ...

A consumer may take `BucketNotification` as its message model directly: fields are read by
their wire names, and what the models do not name is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chassis.blobs.s3 import S3BlobStore

OBJECT_CREATED = "s3:ObjectCreated:"
# S3's own default content type, for an object stored without one.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class NotifiedBucket(_Wire):
    name: str = Field(min_length=1)


class NotifiedObject(_Wire):
    # URL-encoded, as S3 event records carry it (`created_objects` decodes it).
    key: str = Field(min_length=1)
    # MinIO leaves the size out of an empty object's record.
    size: int = Field(default=0, ge=0)
    etag: str = Field(alias="eTag", min_length=1)
    content_type: str = Field(default=DEFAULT_CONTENT_TYPE, alias="contentType")
    # Orders the events of one key: the later write has the greater sequencer.
    sequencer: str = Field(min_length=1)


class NotifiedEntity(_Wire):
    bucket: NotifiedBucket
    object: NotifiedObject


class EventRecord(_Wire):
    event_name: str = Field(alias="eventName", pattern=r"^s3:\w+:[\w*]+$")
    event_time: AwareDatetime = Field(alias="eventTime")
    s3: NotifiedEntity


class BucketNotification(_Wire):
    """One message of MinIO's AMQP target (Go's `event.Log`)."""

    event_name: str = Field(alias="EventName", pattern=r"^s3:\w+:[\w*]+$")
    # `<bucket>/<key>`, the key not encoded.
    key: str = Field(alias="Key", pattern=r"^[^/]+/.+")
    records: list[EventRecord] = Field(alias="Records", min_length=1)


@dataclass(frozen=True)
class CreatedObject:
    bucket: str
    key: str
    size: int
    etag: str
    content_type: str
    event_time: datetime
    sequencer: str


def created_objects(notification: BucketNotification) -> tuple[CreatedObject, ...]:
    """The objects a notification says were created (none for other events), keys decoded."""
    return tuple(
        CreatedObject(
            bucket=record.s3.bucket.name,
            # Encoded as Go's url.QueryEscape does: a space is `+`, a `+` is `%2B`.
            key=unquote_plus(record.s3.object.key),
            size=record.s3.object.size,
            etag=record.s3.object.etag.strip('"'),
            content_type=record.s3.object.content_type,
            event_time=record.event_time,
            sequencer=record.s3.object.sequencer,
        )
        for record in notification.records
        if record.event_name.startswith(OBJECT_CREATED)
    )


async def notify_object_created(
    store: S3BlobStore,
    arn: str,
    prefix: str = "",
    suffix: str = "",
    configuration_id: str = "object-created",
) -> None:
    """Have the store's bucket notify `arn` (MinIO: `arn:minio:sqs::<target id>:amqp`) of every
    object created whose key has `prefix` and `suffix`.

    The bucket's other configurations are kept; one with the same `configuration_id` is
    replaced, so a service can say this at every start.
    """
    current = await store.call(
        store.client.get_bucket_notification_configuration, Bucket=store.bucket
    )
    queues: list[Any] = [
        queue
        for queue in current.get("QueueConfigurations", [])
        if queue.get("Id") != configuration_id
    ]
    ours: dict[str, Any] = {
        "Id": configuration_id,
        "QueueArn": arn,
        "Events": [f"{OBJECT_CREATED}*"],
    }
    rules: list[dict[str, str]] = []
    if prefix:
        rules.append({"Name": "prefix", "Value": prefix})
    if suffix:
        rules.append({"Name": "suffix", "Value": suffix})
    if rules:
        ours["Filter"] = {"Key": {"FilterRules": rules}}
    configuration: dict[str, Any] = {
        name: value
        for name, value in current.items()
        if name
        in ("TopicConfigurations", "LambdaFunctionConfigurations", "EventBridgeConfiguration")
    }
    configuration["QueueConfigurations"] = [*queues, ours]
    await store.call(
        store.client.put_bucket_notification_configuration,
        Bucket=store.bucket,
        NotificationConfiguration=configuration,
    )
