"""Settings read from the environment (12-factor), one class per part of the chassis.

Each part takes only the settings it reads; a service's settings class inherits the parts
it uses, so the variables stay flat (`MONGO_URL`, `AMQP_URL`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chassis.faults import FaultPoint


class ChassisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str
    log_level: str = "INFO"
    # Crash tests only: the process kills or stalls itself at this point (chassis/faults.py).
    fault_point: FaultPoint | None = None


class WebSettings(ChassisSettings):
    """What every HTTP process needs, the gateway included."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    jwks_url: str = "http://127.0.0.1:8080/.well-known/jwks.json"
    jwt_issuer: str = "platform-identity"
    jwt_audience: str = "platform"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    # Tokens this process verified are remembered this long (at most until they expire).
    verified_token_ttl: float = Field(default=60.0, gt=0)
    verified_token_cache_size: int = Field(default=10_000, ge=1)
    # uvloop runs the process' event loop (HTTP, MongoDB, RabbitMQ); off: asyncio's own.
    uvloop: bool = True


class StorageSettings(ChassisSettings):
    """A service that owns a MongoDB database."""

    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    mongo_db: str | None = None

    @property
    def database_name(self) -> str:
        return self.mongo_db or self.service_name


class MessagingSettings(ChassisSettings):
    """A service that talks over RabbitMQ: events in and out, commands."""

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "domain_events"
    prefetch_count: int = Field(default=32, ge=1)
    max_delivery_attempts: int = Field(default=5, ge=1)
    retry_delay_ms: int = Field(default=2000, ge=10)
    # How long a consumer waits to fill a batch of events (see messaging/batching.py).
    consumer_linger_ms: float = Field(default=5.0, ge=0)

    outbox_batch_size: int = Field(default=200, ge=1)
    outbox_lease_seconds: float = Field(default=30.0, gt=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)


MIB = 1024 * 1024


class BlobSettings(ChassisSettings):
    """A service that keeps objects (images, uploaded files) in blob storage (chassis/blobs).

    `directory` keeps them under `blob_dir` (the embedded default); `s3` in a bucket of an S3
    API server: AWS when `s3_endpoint_url` is not set, else MinIO or any other.
    """

    blob_store: Literal["directory", "s3"] = "directory"
    blob_dir: Path = Path(".data/blobs")

    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # Unset: boto3's own chain (AWS_* variables, the instance's or pod's role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_bucket: str | None = None
    # Off where the bucket is provisioned (and the credentials may not create one).
    s3_create_bucket: bool = True
    # An upload holds about two parts in memory; S3 refuses parts under 5 MiB but the last.
    s3_part_bytes: int = Field(default=8 * MIB, ge=5 * MIB, le=5 * 1024 * MIB)
    # Threads the boto3 calls run on, and the connections they share.
    s3_threads: int = Field(default=8, ge=1, le=128)
    s3_connect_timeout: float = Field(default=5.0, gt=0)
    s3_read_timeout: float = Field(default=30.0, gt=0)
    # Attempts per call, the first included (boto3's standard retry mode).
    s3_max_attempts: int = Field(default=3, ge=1, le=10)

    @property
    def bucket_name(self) -> str:
        """The bucket (or, in a directory, the subdirectory) of this service's objects."""
        return self.s3_bucket or self.service_name


class ServiceSettings(WebSettings, StorageSettings, MessagingSettings):
    """A service with all three parts. Subclass per service."""
