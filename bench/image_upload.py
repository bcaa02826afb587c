"""A 100 MB image uploaded through the gateway: the memory it costs the gateway and the images
service, and its throughput against copying the same file to the S3 server with boto3.

The S3 server is the s3 simulator (moto's S3 API server) as its own process; images stores
to it (`BLOB_STORE=s3`). The file is a valid PNG of 100,000,000 bytes (one huge IDAT chunk,
its CRC right), written to disk once and streamed from there by both uploads:

- through the gateway: `POST /images` (multipart: description, file) as a logged-in person,
  then the image deleted again;
- baseline: boto3's `upload_file` to the same S3 server from this process (its default
  transfer: 8 MiB parts, up to 10 threads), then the object deleted.

Rounds alternate the order. Memory: each process' resident set while idle (VmRSS), then its
peak during the uploads (VmHWM, reset to the current size just before by writing 5 to
/proc/PID/clear_refs): the growth is the peak minus the idle size.

Target: the peak of the gateway and of images each stays under 64 MB above their idle size.
Throughput has no target: its ratio to the direct copy is reported.

    uv run python bench/image_upload.py [--rounds 3] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import sys
import time
import zlib
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/image_upload.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from bench.common import (
    BenchEnv,
    banner,
    bench_env,
    command,
    person,
    running_services,
    table,
    verdict_at_most,
)
from boto3.s3.transfer import TransferConfig

from devstack.run import running_simulator
from devstack.system import LOCALHOST, System
from testkit.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, s3_client

MEMORY_LIMIT_MB = 64.0
SERVICES = ("identity", "images", "gateway")
BUCKET = "bench-images"
MB = 1_000_000
MIB = 1024 * 1024


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--megabytes", type=int, default=100, help="the image's size, in 10^6 bytes")
    p.add_argument("--log-level", default="INFO", help="of the service processes")
    return p


def write_png(path: Path, size: int) -> None:
    """A valid PNG of exactly `size` bytes: a 1x1 greyscale header, then one IDAT chunk whose
    data fills the rest (never decoded, only walked: images checks the structure, not the
    pixels), then IEND."""
    signature = b"\x89PNG\r\n\x1a\n"
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    iend = chunk(b"IEND", b"")
    data_size = size - len(signature) - len(ihdr) - len(iend) - 12
    block = bytes(range(256)) * (MIB // 256)
    crc = zlib.crc32(b"IDAT")
    with path.open("wb") as out:
        out.write(signature + ihdr + struct.pack(">I", data_size) + b"IDAT")
        left = data_size
        while left:
            piece = block[: min(left, len(block))]
            out.write(piece)
            crc = zlib.crc32(piece, crc)
            left -= len(piece)
        out.write(struct.pack(">I", crc) + iend)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def resident_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / MB
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def through_gateway(
    session: aiohttp.ClientSession, system: System, token: str, path: Path
) -> float:
    """Seconds to upload `path` as an image, answered 201; the image is deleted after."""
    form = aiohttp.FormData()
    form.add_field("description", "A benchmark's image")
    url = f"{system.gateway_url}/images"
    headers = {"Authorization": f"Bearer {token}"}
    file = await asyncio.to_thread(path.open, "rb")
    try:
        form.add_field("file", file, filename="big.png", content_type="image/png")
        started = time.perf_counter()
        async with session.post(url, data=form, headers=headers) as response:
            body = await response.json()
            elapsed = time.perf_counter() - started
            if response.status != 201:
                raise RuntimeError(f"upload answered {response.status}: {body}")
    finally:
        file.close()
    async with session.delete(f"{url}/{body['id']}", headers=headers) as response:
        if response.status != 204:
            raise RuntimeError(f"delete answered {response.status}")
    return elapsed


def direct(endpoint: str, path: Path) -> float:
    """Seconds to copy `path` to the S3 server with boto3; the object is deleted after."""
    client = s3_client(endpoint)
    started = time.perf_counter()
    client.upload_file(str(path), BUCKET, "direct.png", Config=TransferConfig())
    elapsed = time.perf_counter() - started
    client.delete_object(Bucket=BUCKET, Key="direct.png")
    return elapsed


async def measure_async(
    env: BenchEnv, system: System, endpoint: str, path: Path, rounds: int
) -> list[str]:
    size_mb = (await asyncio.to_thread(path.stat)).st_size / MB
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        caller = await person(env, system, session)
        token = caller.access_token
        # One upload each before measuring: connections, imports and the bucket warmed up.
        await through_gateway(session, system, token, path)
        await asyncio.to_thread(direct, endpoint, path)
        pids = {name: system.pid(name) for name in ("gateway", "images")}
        idle = {name: resident_mb(pid, "VmRSS") for name, pid in pids.items()}
        for pid in pids.values():
            reset_peak(pid)
        times: dict[str, list[float]] = {"gateway": [], "direct": []}
        for round_no in range(rounds):
            order = ["gateway", "direct"] if round_no % 2 == 0 else ["direct", "gateway"]
            for target in order:
                if target == "gateway":
                    times[target].append(await through_gateway(session, system, token, path))
                else:
                    times[target].append(await asyncio.to_thread(direct, endpoint, path))
        peak = {name: resident_mb(pid, "VmHWM") for name, pid in pids.items()}

    labels = {"gateway": "through the gateway", "direct": "boto3 direct"}
    rows = [
        [labels[name], size_mb / statistics.median(t), size_mb / max(t), size_mb / min(t)]
        for name, t in times.items()
    ]
    print(table(["upload", "MB/s (median)", "slowest", "fastest"], rows))
    ratios = [d / g for g, d in zip(times["gateway"], times["direct"], strict=True)]
    print(
        f"Through the gateway, per round, against the direct copy: "
        f"{', '.join(f'{r:.0%}' for r in ratios)}; median {statistics.median(ratios):.0%}"
    )
    print()
    memory = [[name, idle[name], peak[name], peak[name] - idle[name]] for name in pids]
    print(table(["process", "idle MB", "peak MB", "growth MB"], memory))
    return [
        verdict_at_most(f"{name}'s peak above idle", peak[name] - idle[name], MEMORY_LIMIT_MB, "MB")
        for name in pids
    ]


def measure(env: BenchEnv, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Image upload: memory and throughput through the gateway", cmd)
    path = env.workdir / "big.png"
    write_png(path, args.megabytes * MB)
    print(f"# {args.rounds} rounds, a {args.megabytes} MB PNG; S3: the s3 simulator (moto)")
    with running_simulator("s3", env.workdir) as s3:
        endpoint = s3.client_env(LOCALHOST)["S3_ENDPOINT_URL"]
        images_env = {
            **s3.client_env(LOCALHOST),
            "S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
        with running_services(
            env, {"images": images_env}, SERVICES, log_level=args.log_level
        ) as system:
            verdicts = asyncio.run(measure_async(env, system, endpoint, path, args.rounds))
    for line in verdicts:
        print(line)
    return verdicts


def main() -> None:
    args = parser().parse_args()
    with bench_env() as env:
        measure(env, args, command("image_upload.py", sys.argv[1:]))


if __name__ == "__main__":
    main()
