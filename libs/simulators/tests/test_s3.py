"""The S3 API server (`simulators.s3`) as its own process: buckets on the path, whatever the
host name it is reached by."""

from __future__ import annotations

import os

from testkit.s3 import S3Bucket, s3_client


def test_it_serves_any_bucket_on_the_path(s3_server: str) -> None:
    # By name as well as by address: a bucket is never read from the host name.
    by_name = s3_server.replace("127.0.0.1", "localhost")
    bucket = S3Bucket.unique(by_name, "sim")
    client = s3_client(by_name)
    client.create_bucket(Bucket=bucket.name)
    data = os.urandom(70_000)
    client.put_object(Bucket=bucket.name, Key="a/b.bin", Body=data)

    assert S3Bucket(s3_server, bucket.name).content("a/b.bin") == data
    assert bucket.keys() == ["a/b.bin"]
    assert bucket.open_uploads() == 0
