"""`make token`: an access token from identity, logging in through the gateway as a
development person, whom it registers and confirms first if need be.

The confirmation token comes from the email `make run`'s SMTP server keeps under
`.data/mail/`, as the person would follow its link.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.paths import DevstackError, data_dir
from devstack.services import by_name
from devstack.simulators import simulator
from simulators.mailbox import link_token, read_messages, sent_to

# `make run` gives this address the operations role (identity's OPERATOR_EMAILS), so the
# default token may do everything.
DEV_OPERATOR_EMAIL = "operator@example.com"
# Meets identity's password policy; a development account's, never a real one's.
DEV_PASSWORD = "Development-Password-1"
CONFIRM_PATH = "/confirm-registration"

# Straight to the loopback, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def gateway_url() -> str:
    return f"http://localhost:{by_name('gateway').port}"


def mail_dir() -> Path:
    keeps = simulator("mailbox").keeps
    assert keeps is not None
    return data_dir() / keeps


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def detail(self) -> str:
        return str(self.body.get("detail") or self.body.get("title") or self.body)


def post(url: str, body: dict[str, Any]) -> Answer:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _http.open(request, timeout=30) as response:
            return Answer(response.status, _json(response.read()))
    except urllib.error.HTTPError as refused:
        return Answer(refused.code, _json(refused.read()))
    except (urllib.error.URLError, OSError) as exc:
        raise DevstackError(f"{url} did not answer ({exc}); is `make run` running?") from exc


def _json(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return {"detail": raw.decode(errors="replace")}
    return parsed if isinstance(parsed, dict) else {"detail": parsed}


def confirmation_token(mail: Path, email: str, timeout: float) -> str:
    """The token of the newest confirmation email sent to `email`, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(sent_to(read_messages(mail), email)):
            token = link_token(message, CONFIRM_PATH)
            if token is not None:
                return token
        if time.monotonic() >= deadline:
            raise DevstackError(
                f"no confirmation email to {email} arrived in {mail} within {timeout:.0f}s"
            )
        time.sleep(0.2)


def access_token(
    gateway: str,
    email: str,
    password: str,
    mail: Path,
    *,
    first_name: str = "Dev",
    last_name: str = "Eloper",
    timeout: float = 30.0,
) -> str:
    """Log in as `email`; registered and confirmed first when identity does not know them."""
    credentials = {"username": email, "password": password}
    login = post(f"{gateway}/credentials/auth", credentials)
    if login.status == 200:
        return str(login.body["access_token"])
    if login.status == 401:  # unknown, or a wrong password: registering tells which
        person = {
            "email": email,
            "password": password,
            "first_name": first_name,
            "last_name": last_name,
        }
        registered = post(f"{gateway}/credentials/register", person)
        if registered.status == 409:
            raise DevstackError(f"{email} is registered with another password: {login.detail}")
        if registered.status != 201:
            raise DevstackError(f"registering {email}: {registered.status} {registered.detail}")
    elif login.status != 403:  # 403: registered, not yet confirmed
        raise DevstackError(f"logging in as {email}: {login.status} {login.detail}")
    token = confirmation_token(mail, email, timeout)
    confirmed = post(f"{gateway}/credentials/confirm-registration", {"token": token})
    if confirmed.status != 200:
        raise DevstackError(f"confirming {email}: {confirmed.status} {confirmed.detail}")
    login = post(f"{gateway}/credentials/auth", credentials)
    if login.status != 200:
        raise DevstackError(f"logging in as {email}: {login.status} {login.detail}")
    return str(login.body["access_token"])
