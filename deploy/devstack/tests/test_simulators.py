"""The table of simulators as `make run` starts them: each its own process with its log,
serving what its client is told (an email sent lands as a .eml file, an event posted is
shown back), and all stopped together."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import boto3
import pytest

from devstack.run import simulator_log, start_simulators, stop_simulators
from devstack.simulators import SIMULATORS, simulator
from devstack.system import LOCALHOST, free_ports, port_in_use
from identity.sso.settings import SsoSettings
from simulators.analytics import DEFAULT_API_KEY
from simulators.mailbox import read_messages
from simulators.oidc import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_the_table_names_a_client_service_setting_for_each_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {s.name for s in SIMULATORS} == {"mailbox", "analytics", "oidc", "gravatar", "s3"}
    assert simulator("mailbox").client_env("mailpit") == {
        "SMTP_HOST": "mailpit",
        "SMTP_PORT": "1025",
    }
    assert simulator("analytics").client_env("analytics") == {
        "ANALYTICS_URL": "http://analytics:8190"
    }
    # identity's settings parse it: one provider, at the simulator, with its development client.
    for name, value in simulator("oidc").client_env("oidc").items():
        monkeypatch.setenv(name, value)
    [local] = SsoSettings(service_name="identity").sso_providers
    assert (local.name, local.issuer, local.client_id) == (
        "local",
        "http://oidc:8192",
        DEFAULT_CLIENT_ID,
    )
    assert local.client_secret.get_secret_value() == DEFAULT_CLIENT_SECRET


def test_every_simulator_runs_as_its_own_process_serving_its_clients_settings(
    tmp_path: Path,
) -> None:
    ports = free_ports(s.name for s in SIMULATORS)
    # The table's, on free ports: `make run` may hold the table's own.
    table = [replace(s, port=ports[s.name]) for s in SIMULATORS]
    logs = tmp_path / "logs"
    started = start_simulators(tmp_path, logs, table)
    try:
        assert len({p.pid for p in started.values()}) == len(table)
        mailbox = next(s for s in table if s.name == "mailbox")
        smtp = mailbox.client_env(LOCALHOST)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", "b@x.org", "Hi"
        message.set_content("hello")
        with smtplib.SMTP(smtp["SMTP_HOST"], int(smtp["SMTP_PORT"]), timeout=5) as client:
            client.send_message(message)
        [kept] = read_messages(tmp_path / "mail")
        assert kept["Subject"] == "Hi"

        analytics = next(s for s in table if s.name == "analytics")
        url = analytics.client_env(LOCALHOST)["ANALYTICS_URL"]
        event = {"event": "$pageview", "distinct_id": "anon-1"}
        body = json.dumps({"api_key": DEFAULT_API_KEY, "batch": [event]}).encode()
        request = urllib.request.Request(
            f"{url}/batch/", body, {"Content-Type": "application/json"}
        )
        with _http.open(request, timeout=5) as answer:
            assert answer.status == 200
        with _http.open(f"{url}/_simulator/events", timeout=5) as answer:
            assert [e["event"] for e in json.load(answer)["events"]] == ["$pageview"]

        oidc = next(s for s in table if s.name == "oidc")
        [provider] = json.loads(oidc.client_env(LOCALHOST)["SSO_PROVIDERS"])
        discovery = f"{provider['issuer']}/.well-known/openid-configuration"
        with _http.open(discovery, timeout=5) as answer:
            assert json.load(answer)["issuer"] == provider["issuer"]

        gravatar = next(s for s in table if s.name == "gravatar")
        probe = gravatar.client_env(LOCALHOST)["GRAVATAR_URL"] + str(gravatar.probe)
        with _http.open(probe, timeout=5) as answer:
            assert answer.status == 200

        s3 = next(s for s in table if s.name == "s3")
        client = boto3.client(
            "s3",
            endpoint_url=s3.client_env(LOCALHOST)["S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="any",
            aws_secret_access_key="any",
        )
        client.create_bucket(Bucket="table")
        client.put_object(Bucket="table", Key="k", Body=b"kept")
        assert client.get_object(Bucket="table", Key="k")["Body"].read() == b"kept"
    finally:
        stop_simulators(started)
    assert all(p.poll() is not None for p in started.values())
    assert not any(port_in_use(s.port) for s in table)
    for each in table:
        assert simulator_log(logs, each).is_file()
    assert "mailbox: SMTP on" in simulator_log(logs, mailbox).read_text()
