"""The blob store on an S3 API server (AWS, MinIO, moto's server) through boto3.

boto3 blocks, so every call runs on the store's own threads, never on the event loop; its
client is thread-safe and shares one connection pool (as large as the thread pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, IncompleteReadError

from chassis.blobs import BlobNotFound, StoredBlob
from chassis.config import BlobSettings
from chassis.errors import Unavailable
from chassis.logging import get_logger
from chassis.parts import Check

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")
log = get_logger(__name__)

# What S3 answers for an object or bucket that is not there (HEAD answers with no body: "404").
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
_NO_BUCKET = frozenset({"NoSuchBucket", "NotFound", "404"})


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        create_bucket: bool = True,
        part_bytes: int = 8 * 1024 * 1024,
        threads: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self.part_bytes = part_bytes
        self._where = f"{endpoint_url or 'AWS S3'} (bucket {bucket!r})"
        self._create_bucket = create_bucket
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3")
        config = Config(
            region_name=region,
            max_pool_connections=threads,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            # MinIO and moto serve buckets on the path; AWS prefers them in the host name.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # Checksums only where the API demands them: boto3's default (a CRC on every
            # upload) is refused by some S3 API servers, and S3 checks each part's MD5 anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    @classmethod
    def of(cls, settings: BlobSettings) -> Self:
        secret = settings.s3_secret_access_key
        return cls(
            settings.bucket_name,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            create_bucket=settings.s3_create_bucket,
            part_bytes=settings.s3_part_bytes,
            threads=settings.s3_threads,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
            max_attempts=settings.s3_max_attempts,
        )

    async def call(self, method: Callable[..., T], /, **kwargs: Any) -> T:
        """`method(**kwargs)` on the store's threads; the server not answering (or answering
        with its own failure) is `Unavailable`."""
        loop = asyncio.get_running_loop()
        # The executor's work item outlives the call for a moment, and would keep a part it
        # was given alive beside the next one: the arguments go to the call, not to the item.
        arguments = [kwargs]
        return await loop.run_in_executor(
            self._executor, functools.partial(self._guarded, method, arguments)
        )

    def _guarded(self, method: Callable[..., T], arguments: list[dict[str, Any]]) -> T:
        try:
            return method(**arguments.pop())
        except (ConnectionError, HTTPClientError, IncompleteReadError) as error:
            log.warning("blobs.s3_unreachable", where=self._where, error=str(error))
            raise Unavailable(f"The blob store at {self._where} did not answer: {error}") from error
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                log.warning("blobs.s3_failed", where=self._where, status=status, error=str(error))
                raise Unavailable(f"The blob store at {self._where} failed: {error}") from error
            raise

    async def upload(self, key: str, content_type: str) -> S3Upload:
        return S3Upload(self, key, content_type)

    async def read(self, key: str, chunk_bytes: int = 1024 * 1024) -> AsyncGenerator[bytes, None]:
        try:
            response = await self.call(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in _MISSING:
                raise BlobNotFound(key) from None
            raise
        body = response["Body"]
        try:
            while chunk := await self.call(body.read, amt=chunk_bytes):
                yield chunk
        finally:
            # Read to the end, this hands the connection back to the pool; closed early, it
            # drops the connection rather than read the rest.
            body.close()

    async def head(self, key: str) -> StoredBlob:
        try:
            found = await self.call(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in _MISSING:
                raise BlobNotFound(key) from None
            raise
        return StoredBlob(
            key=key,
            size=found["ContentLength"],
            content_type=found.get("ContentType", "application/octet-stream"),
            etag=found["ETag"].strip('"'),
        )

    async def delete(self, key: str) -> None:
        # S3 answers 204 whether or not there was such an object.
        await self.call(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def start(self) -> None:
        """Make sure the bucket is there, creating it unless it is provisioned elsewhere."""
        try:
            await self.ping()
            return
        except ClientError as error:
            if _code(error) not in _NO_BUCKET:
                raise
            if not self._create_bucket:
                raise Unavailable(
                    f"No bucket {self.bucket!r} at {self._where}, and S3_CREATE_BUCKET is off."
                ) from None
        region = self.client.meta.region_name
        # us-east-1 is the one region that refuses being named as the location.
        location: dict[str, Any] = (
            {"CreateBucketConfiguration": {"LocationConstraint": region}}
            if region and region != "us-east-1"
            else {}
        )
        try:
            await self.call(self.client.create_bucket, Bucket=self.bucket, **location)
        except ClientError as error:
            # Another replica created it meanwhile.
            if _code(error) != "BucketAlreadyOwnedByYou":
                raise
        log.info("blobs.bucket_created", bucket=self.bucket)

    async def ping(self) -> None:
        await self.call(self.client.head_bucket, Bucket=self.bucket)

    async def stop(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def checks(self) -> Mapping[str, Check]:
        return {"blobs": self.ping}


class S3Upload:
    """Parts of `part_bytes` sent one at a time while the next fills: at most one in flight,
    so an upload holds about two parts whatever the object's size. An object smaller than one
    part is sent whole, with a single request, at `complete`."""

    def __init__(self, store: S3BlobStore, key: str, content_type: str) -> None:
        self._store = store
        self._key = key
        self._content_type = content_type
        self._buffer = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._sending: asyncio.Future[None] | None = None
        self._finished = False

    async def write(self, chunk: bytes) -> None:
        self._check_open()
        self._buffer += chunk
        self._size += len(chunk)
        part_bytes = self._store.part_bytes
        while len(self._buffer) >= part_bytes:
            # The part in flight ends before this one is cut, so only two are ever held.
            await self._sent()
            part, self._buffer = self._buffer, self._buffer[part_bytes:]
            # Cut in place: the part is handed over, not copied.
            del part[part_bytes:]
            await self._send(part)

    async def complete(self) -> StoredBlob:
        self._check_open()
        self._finished = True
        store = self._store
        if self._upload_id is None:
            done = await store.call(
                store.client.put_object,
                Bucket=store.bucket,
                Key=self._key,
                Body=self._buffer,
                ContentType=self._content_type,
            )
            etag = done["ETag"]
        else:
            await self._sent()
            if self._buffer:
                await self._send(self._buffer)
                await self._sent()
            completed = await store.call(
                store.client.complete_multipart_upload,
                Bucket=store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            etag = completed["ETag"]
        self._buffer = bytearray()
        log.info("blobs.stored", key=self._key, size=self._size, parts=max(len(self._parts), 1))
        return StoredBlob(self._key, self._size, self._content_type, etag.strip('"'))

    async def abort(self) -> None:
        self._finished = True
        self._buffer = bytearray()
        if self._sending is not None:
            # The thread sending it cannot be stopped; the upload is dropped once it is done.
            with contextlib.suppress(Exception):
                await self._sending
            self._sending = None
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            store = self._store
            with contextlib.suppress(ClientError):
                await store.call(
                    store.client.abort_multipart_upload,
                    Bucket=store.bucket,
                    Key=self._key,
                    UploadId=upload_id,
                )
            log.info("blobs.upload_aborted", key=self._key, parts=len(self._parts))

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"The upload of {self._key!r} is already completed or aborted.")

    async def _send(self, part: bytearray) -> None:
        store = self._store
        if self._upload_id is None:
            started = await store.call(
                store.client.create_multipart_upload,
                Bucket=store.bucket,
                Key=self._key,
                ContentType=self._content_type,
            )
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        upload_id = self._upload_id

        async def send() -> None:
            sent = await store.call(
                store.client.upload_part,
                Bucket=store.bucket,
                Key=self._key,
                UploadId=upload_id,
                PartNumber=number,
                Body=part,
            )
            self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

        self._sending = asyncio.ensure_future(send())

    async def _sent(self) -> None:
        """Wait for the part in flight; its failure is this call's."""
        sending, self._sending = self._sending, None
        if sending is not None:
            await sending


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
