"""Object-created notifications: the S3 server (`simulators.s3`, its own process) as a MinIO
server with one AMQP target, publishing to the real RabbitMQ; a queue of the test's own
counts what it published, and the chassis' models read it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import quote_plus

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from botocore.exceptions import ClientError
from pydantic import ValidationError

from chassis.blobs.notifications import (
    BucketNotification,
    CreatedObject,
    created_objects,
    notify_object_created,
)
from chassis.blobs.s3 import S3BlobStore
from chassis.config import MIB, BlobSettings
from testkit.fixtures import TestInfra
from testkit.rabbit import Rabbit
from testkit.s3 import S3Bucket, s3_simulator
from testkit.waiting import eventually

EXCHANGE = "blob_events"
ROUTING_KEY = "blobs.object_created"
ARN = "arn:minio:sqs::PRIMARY:amqp"

# What MinIO publishes for `lists/Q3 leads.csv` put into bucket `uploads` (event.Log, one
# record), as its documentation and AMQP target describe it.
MINIO_SAMPLE = b"""{
  "EventName": "s3:ObjectCreated:Put",
  "Key": "uploads/lists/Q3 leads.csv",
  "Records": [{
    "eventVersion": "2.0",
    "eventSource": "minio:s3",
    "awsRegion": "",
    "eventTime": "2026-06-01T12:00:00.250Z",
    "eventName": "s3:ObjectCreated:Put",
    "userIdentity": {"principalId": "minioadmin"},
    "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "10.0.0.7"},
    "responseElements": {
      "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
      "x-amz-request-id": "18A3D4A0B5C1E2F3",
      "x-minio-deployment-id": "0170a4cc-dca6-4e72-86f1-c0cc760dff7f",
      "x-minio-origin-endpoint": "http://10.0.0.2:9000"
    },
    "s3": {
      "s3SchemaVersion": "1.0",
      "configurationId": "Config",
      "bucket": {
        "name": "uploads",
        "ownerIdentity": {"principalId": "minioadmin"},
        "arn": "arn:aws:s3:::uploads"
      },
      "object": {
        "key": "lists%2FQ3+leads.csv",
        "size": 52431,
        "eTag": "3b5d5c3712955042212316173ccf37be",
        "contentType": "text/csv",
        "userMetadata": {"content-type": "text/csv"},
        "sequencer": "18A3D4A0B5E4F1C2"
      }
    },
    "source": {"host": "10.0.0.7", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7"}
  }]
}"""


def test_a_minio_message_gives_its_created_object() -> None:
    notification = BucketNotification.model_validate_json(MINIO_SAMPLE)

    assert created_objects(notification) == (
        CreatedObject(
            bucket="uploads",
            key="lists/Q3 leads.csv",
            size=52431,
            etag="3b5d5c3712955042212316173ccf37be",
            content_type="text/csv",
            event_time=datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC),
            sequencer="18A3D4A0B5E4F1C2",
        ),
    )


def test_an_object_removed_is_no_object_created() -> None:
    removed = MINIO_SAMPLE.replace(b"s3:ObjectCreated:Put", b"s3:ObjectRemoved:Delete")

    assert created_objects(BucketNotification.model_validate_json(removed)) == ()


@pytest.mark.parametrize(
    "broken",
    [
        MINIO_SAMPLE.replace(b'"name": "uploads"', b'"label": "uploads"'),
        MINIO_SAMPLE.replace(b'"eTag"', b'"etag"'),
        MINIO_SAMPLE.replace(b'"sequencer"', b'"seq"'),
        MINIO_SAMPLE.replace(b"2026-06-01T12:00:00.250Z", b"yesterday"),
        MINIO_SAMPLE.replace(b'"EventName": "s3:ObjectCreated:Put"', b'"EventName": "put"'),
        MINIO_SAMPLE.replace(b'"Key": "uploads/lists/Q3 leads.csv"', b'"Key": "uploads"'),
        b'{"EventName": "s3:ObjectCreated:Put", "Key": "uploads/a.csv", "Records": []}',
        b"not json",
    ],
)
def test_a_message_not_of_that_shape_is_refused(broken: bytes) -> None:
    with pytest.raises(ValidationError):
        BucketNotification.model_validate_json(broken)


@pytest.fixture(scope="module")
def minio_like(tmp_path_factory: pytest.TempPathFactory, test_infra: TestInfra) -> Iterator[str]:
    """An S3 server with the AMQP target PRIMARY, publishing to the test vhost."""
    with s3_simulator(
        tmp_path_factory.mktemp("s3-notifying"),
        "--amqp-url",
        test_infra.amqp_url,
        "--amqp-exchange",
        EXCHANGE,
        "--amqp-routing-key",
        ROUTING_KEY,
    ) as endpoint_url:
        yield endpoint_url


@pytest.fixture
async def store(minio_like: str) -> AsyncIterator[S3BlobStore]:
    bucket = S3Bucket.unique(minio_like, "notified")
    store = S3BlobStore.of(BlobSettings(service_name="lists", **bucket.settings()))
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


@pytest.fixture
async def received(test_infra: TestInfra) -> AsyncIterator[list[AbstractIncomingMessage]]:
    """What the target publishes from now on, on a queue of the test's own."""
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        # The consumer's side declares the exchange as MinIO does (durable topic), so its queue
        # can be bound before the first event.
        connection = await aio_pika.connect(test_infra.amqp_url)
        async with connection, connection.channel() as channel:
            await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        yield await rabbit.watch(EXCHANGE, ROUTING_KEY)


async def arrived(messages: list[AbstractIncomingMessage], count: int) -> list[CreatedObject]:
    await eventually(lambda: len(messages) >= count, timeout=10)
    return [
        created
        for message in messages
        for created in created_objects(BucketNotification.model_validate_json(message.body))
    ]


async def test_each_object_created_gives_one_message(
    store: S3BlobStore, received: list[AbstractIncomingMessage], minio_like: str
) -> None:
    await notify_object_created(store, ARN, suffix=".csv")
    client = S3Bucket(minio_like, store.bucket).client()
    # First what must not be published: a key the filter leaves out, and a bucket with no
    # configuration. The target publishes in order, so had they been, they came first.
    client.put_object(Bucket=store.bucket, Key="x.txt", Body=b"x")
    other = S3Bucket.unique(minio_like, "quiet")
    client.create_bucket(Bucket=other.name)
    client.put_object(Bucket=other.name, Key="lists/a.csv", Body=b"a")

    put = client.put_object(
        Bucket=store.bucket, Key="lists/a.csv", Body=b"email\na@x.io\n", ContentType="text/csv"
    )
    upload = client.create_multipart_upload(
        Bucket=store.bucket, Key="lists/b.csv", ContentType="text/csv"
    )
    parts = []
    for number in (1, 2):
        sent = client.upload_part(
            Bucket=store.bucket,
            Key="lists/b.csv",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=os.urandom(5 * MIB),
        )
        parts.append({"PartNumber": number, "ETag": sent["ETag"]})
    completed = client.complete_multipart_upload(
        Bucket=store.bucket,
        Key="lists/b.csv",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )

    a, b = await arrived(received, 2)
    await asyncio.sleep(0.3)
    assert len(received) == 2
    assert (a.bucket, a.key, a.size, a.etag, a.content_type) == (
        store.bucket,
        "lists/a.csv",
        13,
        put["ETag"].strip('"'),
        "text/csv",
    )
    assert (b.bucket, b.key, b.size, b.etag) == (
        store.bucket,
        "lists/b.csv",
        10 * MIB,
        completed["ETag"].strip('"'),
    )
    assert a.sequencer < b.sequencer
    first = received[0]
    assert first.content_type == "application/json"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    names = [BucketNotification.model_validate_json(m.body).event_name for m in received]
    assert names == ["s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"]


async def test_a_key_arrives_encoded_and_is_read_decoded(
    store: S3BlobStore, received: list[AbstractIncomingMessage], minio_like: str
) -> None:
    await notify_object_created(store, ARN, prefix="lists/")
    key = "lists/März Liste 1+1.csv"
    S3Bucket(minio_like, store.bucket).client().put_object(
        Bucket=store.bucket, Key=key, Body=b"email\n"
    )

    (created,) = await arrived(received, 1)
    notification = BucketNotification.model_validate_json(received[0].body)
    assert notification.records[0].s3.object.key == "lists%2FM%C3%A4rz+Liste+1%2B1.csv"
    assert notification.records[0].s3.object.key == quote_plus(key, safe="")
    assert notification.key == f"{store.bucket}/{key}"
    assert created.key == key
    assert created.content_type == "binary/octet-stream"


async def test_the_bucket_keeps_its_other_configurations(
    store: S3BlobStore, minio_like: str
) -> None:
    client = S3Bucket(minio_like, store.bucket).client()
    audit = {"Id": "audit", "QueueArn": ARN, "Events": ["s3:ObjectRemoved:*"]}
    client.put_bucket_notification_configuration(
        Bucket=store.bucket,
        NotificationConfiguration={"QueueConfigurations": [audit]},  # type: ignore[list-item]
    )

    # Said at every start: the second time replaces the first.
    await notify_object_created(store, ARN, prefix="lists/")
    await notify_object_created(store, ARN, prefix="lists/", suffix=".csv")

    queues = client.get_bucket_notification_configuration(Bucket=store.bucket)[
        "QueueConfigurations"
    ]
    by_id = {queue["Id"]: queue for queue in queues}
    assert sorted(by_id) == ["audit", "object-created"]
    assert by_id["audit"]["QueueArn"] == audit["QueueArn"]
    assert by_id["audit"]["Events"] == ["s3:ObjectRemoved:*"]
    ours = by_id["object-created"]
    assert ours["QueueArn"] == ARN
    assert ours["Events"] == ["s3:ObjectCreated:*"]
    rules = {rule["Name"]: rule["Value"] for rule in ours["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "lists/", "suffix": ".csv"}


def test_a_target_the_server_does_not_have_is_refused(store: S3BlobStore, minio_like: str) -> None:
    client = S3Bucket(minio_like, store.bucket).client()
    unknown = {"QueueArn": "arn:minio:sqs::SECONDARY:amqp", "Events": ["s3:ObjectCreated:*"]}

    with pytest.raises(ClientError, match="InvalidArgument"):
        client.put_bucket_notification_configuration(
            Bucket=store.bucket,
            NotificationConfiguration={"QueueConfigurations": [unknown]},  # type: ignore[list-item]
        )
