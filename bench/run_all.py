"""Every benchmark in one run (`make bench`): one throwaway vhost and DB prefix, one stack.

The service processes are started once and shared by the HTTP benchmarks, then stopped
before the messaging benchmarks, which run their producers and consumers in this process, and
the image upload, which starts the few services it needs beside an S3 server.
Each benchmark prints its own table, ratio and verdicts; a missed target does not fail the
run. The verdicts of every target are repeated at the end.

    uv run python bench/run_all.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run_all.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    api_key_calls,
    booking_latency,
    command_round_trips,
    email_throughput,
    event_throughput,
    gateway_overhead,
    image_upload,
    password_hashing,
    recording_ingestion,
    token_verification,
)
from bench.common import bench_env, command, running_system


def main() -> None:
    started = time.perf_counter()
    cmd = command("run_all.py", [])
    print(f"$ {cmd}")
    http_args = gateway_overhead.parser().parse_args([])
    booking_args = booking_latency.parser().parse_args([])
    event_args = event_throughput.parser().parse_args([])
    command_args = command_round_trips.parser().parse_args([])
    email_args = email_throughput.parser().parse_args([])
    recording_args = recording_ingestion.parser().parse_args([])
    token_args = token_verification.parser().parse_args([])
    api_key_args = api_key_calls.parser().parse_args([])
    hashing_args = password_hashing.parser().parse_args([])
    upload_args = image_upload.parser().parse_args([])
    with bench_env() as env:
        with running_system(env, http_args.log_level) as system:
            verdicts = gateway_overhead.measure(
                env, system, http_args, f"{cmd}  # gateway_overhead.py"
            )
            verdicts += booking_latency.measure(
                env, system, booking_args, f"{cmd}  # booking_latency.py"
            )
            recording_ingestion.measure(
                env, system, recording_args, f"{cmd}  # recording_ingestion.py"
            )
            verdicts += token_verification.measure(
                env, system, token_args, f"{cmd}  # token_verification.py"
            )
            verdicts += api_key_calls.measure(
                env, system, api_key_args, f"{cmd}  # api_key_calls.py"
            )
            verdicts += password_hashing.measure(
                env, system, hashing_args, f"{cmd}  # password_hashing.py"
            )
        verdicts += event_throughput.measure(env, event_args, f"{cmd}  # event_throughput.py")
        command_round_trips.measure(env, command_args, f"{cmd}  # command_round_trips.py")
        verdicts += email_throughput.measure(env, email_args, f"{cmd}  # email_throughput.py")
        verdicts += image_upload.measure(env, upload_args, f"{cmd}  # image_upload.py")
    print()
    print("=== Targets ===")
    print("\n".join(verdicts))
    print(f"All benchmarks done in {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
