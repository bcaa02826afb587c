"""The public API against its own OpenAPI document, with schemathesis through the gateway.

schemathesis reads the gateway's merged `/openapi.json` and sends what it generates from it,
with the token of a member of an organization, logged in through identity: requests that
follow the document, requests that break it, methods a path does not have, and sequences that
reuse the ids earlier answers gave. Every answer must be documented (status, content type,
headers, body schema), none may be a 5xx, input the document refuses must be refused, and a
method a path lacks must be a 405 with `Allow`.

It runs as the `schemathesis` command, whose report says what was tested: its pytest plugin
does not load under pytest 9.2 (it sets a node attribute pytest no longer has).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from testkit.api import PlatformClient
from testkit.identity import People, Person

SCHEMATHESIS = (sys.executable, "-m", "schemathesis.cli", "run")
# Cases per operation in each phase: about 850 requests in all, some 15 s.
MAX_EXAMPLES = 20
# Under the gateway's 100 a second per caller, so that no request is spent on a 429.
RATE_LIMIT = "80/s"


async def test_every_answer_is_documented_and_none_is_a_server_error(
    anonymous: PlatformClient,
    gateway: str,
    people: People,
    person: Person,
    tmp_path: Path,
) -> None:
    document = (await anonymous.expect(200, "GET", "/openapi.json")).json()
    assert "x-unavailable" not in document, "every service's routes are under test"
    # All but the one it reads the document from.
    operations = sum(len(item) for item in document["paths"].values()) - 1
    report_path = tmp_path / "report.json"
    # A member who owns nothing. An owner's token opens /audits and /emails to the tests,
    # where `since` and `to_utc` still take a number as a Unix time (ST201): to be made strict
    # in the chassis, for every service's times.
    _, member = await people.organization(person, await people.person())
    bearer = member.access_token
    run = await asyncio.create_subprocess_exec(
        *SCHEMATHESIS,
        f"{gateway}/openapi.json",
        "--header",
        f"Authorization: Bearer {bearer}",
        "--checks",
        "all",
        # Input the document allows may still break a rule it cannot state (a frame in the
        # past, a car that does not exist): a 422, documented as such.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--rate-limit",
        RATE_LIMIT,
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--no-color",
        # Away from any schemathesis.toml of the checkout.
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=240)
    # The failures, each with the curl command that reproduces it.
    assert run.returncode == 0, output.decode(errors="replace")
    report = json.loads(report_path.read_text())
    assert report["complete"] and report["failures"] == [] and report["errors"] == []
    assert report["operations"]["tested"] == operations
    assert {"coverage", "fuzzing", "stateful"} <= {
        phase for phase, result in report["phases"].items() if result["status"] == "success"
    }
