"""The S3 API server of the tests (`simulators.s3`, moto's) as its own process, and a view of
a bucket through boto3 that is not the blob store under test: what a test counts there is
the server's own record.

    def test_upload(test_infra, s3_bucket):
        settings = ImagesSettings(**test_infra.env("images", **s3_bucket.settings()))
        ...
        assert s3_bucket.keys() == [...] and s3_bucket.open_uploads() == 0
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from devstack.run import start_simulators, stop_simulators
from devstack.simulators import Simulator, simulator
from devstack.system import LOCALHOST, free_ports

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Any credentials will do for the simulator; these are moto's customary ones.
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"
REGION = "us-east-1"


@dataclass(frozen=True)
class _WithArguments(Simulator):
    arguments: tuple[str, ...] = ()

    def command(self, python: str, host: str, state: Path | str | None = None) -> list[str]:
        return [*super().command(python, host, state), *self.arguments]


@contextmanager
def s3_simulator(log_dir: Path, *arguments: str) -> Iterator[str]:
    """`python -m simulators.s3 [arguments]` on a free port until the block ends; its endpoint
    URL. The arguments are the server's options, e.g. its MinIO AMQP target (`--amqp-url`)."""
    table = simulator("s3")
    values = {field.name: getattr(table, field.name) for field in fields(table)}
    values["port"] = free_ports(["s3"])["s3"]
    s3 = _WithArguments(**values, arguments=arguments)
    started = start_simulators(log_dir, log_dir, [s3])
    try:
        yield s3.client_env(LOCALHOST)["S3_ENDPOINT_URL"]
    finally:
        stop_simulators(started)


def s3_client(endpoint_url: str) -> S3Client:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@dataclass(frozen=True)
class S3Bucket:
    """A bucket of the test server, named for one test module: its settings for a service
    under test, and what the server holds in it."""

    endpoint_url: str
    name: str

    @classmethod
    def unique(cls, endpoint_url: str, prefix: str = "t") -> S3Bucket:
        return cls(endpoint_url, f"{prefix}-{uuid.uuid4().hex[:12]}")

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """`BlobSettings` values (keyword arguments) that keep a service's objects here; the
        store creates the bucket at start."""
        return {
            "blob_store": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION,
            "s3_bucket": self.name,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
            **overrides,
        }

    def client(self) -> S3Client:
        return s3_client(self.endpoint_url)

    def exists(self) -> bool:
        names = [bucket["Name"] for bucket in self.client().list_buckets().get("Buckets", [])]
        return self.name in names

    def keys(self, prefix: str = "") -> list[str]:
        """The keys of the objects in the bucket, sorted."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def open_uploads(self) -> int:
        """Multipart uploads begun and neither completed nor aborted."""
        return len(self.client().list_multipart_uploads(Bucket=self.name).get("Uploads", []))

    def content(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.name, Key=key)["Body"].read()
