"""The OpenID Connect simulator (`simulators.oidc`) as tests drive it: served in the test's
process or run as its own, and signed in at as a browser would be sent there, the redirect
followed by hand to take the code."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from devstack.run import start_simulators, stop_simulators
from devstack.simulators import simulator
from devstack.system import LOCALHOST
from simulators.oidc import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Client, Simulator, s256
from testkit.web import serving

REDIRECT_URI = "http://127.0.0.1:8080/sso/callback"


@dataclass(frozen=True)
class SignIn:
    """What a client holds once the provider sent the person back: the code, and what it
    must show again to redeem it."""

    code: str
    code_verifier: str
    redirect_uri: str
    nonce: str | None


class OidcSimulator:
    """A client of a running simulator."""

    def __init__(self, url: str, client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.url = url
        self.client_id = client_id

    async def sign_in(
        self,
        email: str,
        *,
        redirect_uri: str = REDIRECT_URI,
        nonce: str | None = None,
        **claims: str,
    ) -> SignIn:
        """Authorize `email` with a fresh PKCE challenge; `claims`: given_name,
        family_name, email_verified as the simulator takes them."""
        code_verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "code_challenge": s256(code_verifier),
            "code_challenge_method": "S256",
            "login_hint": email,
            **({"nonce": nonce} if nonce is not None else {}),
            **claims,
        }
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/.well-known/openid-configuration") as response:
                response.raise_for_status()
                authorize = (await response.json())["authorization_endpoint"]
            async with http.get(authorize, params=query, allow_redirects=False) as response:
                if response.status != 302:
                    raise AssertionError(f"{response.status}: {await response.text()}")
                sent_to = urlsplit(response.headers["Location"])
        back = {name: values[0] for name, values in parse_qs(sent_to.query).items()}
        if back.get("state") != state or "code" not in back:
            raise AssertionError(f"the provider sent back {back}")
        return SignIn(back["code"], code_verifier, redirect_uri, nonce)

    async def rotate_keys(self) -> str:
        """Sign with a new key from now on; its kid."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/_simulator/rotate") as response,
        ):
            response.raise_for_status()
            kid: str = (await response.json())["kid"]
            return kid


@asynccontextmanager
async def served_simulator(
    redirect_uris: Iterable[str] = (REDIRECT_URI,),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> AsyncIterator[OidcSimulator]:
    """A simulator served in this process on a free port, knowing one client."""
    client = Client(client_id, client_secret, frozenset(redirect_uris))
    async with serving(Simulator({client_id: client}).app()) as url:
        yield OidcSimulator(url, client_id)


@contextmanager
def simulator_process(port: int, log_dir: Path) -> Iterator[OidcSimulator]:
    """`python -m simulators.oidc` as its own process, started as `make run` starts it
    (devstack's table of simulators, with its client and redirect URIs), on `port`; its log
    in `log_dir`."""
    oidc = replace(simulator("oidc"), port=port)
    started = start_simulators(log_dir, log_dir, [oidc])
    try:
        yield OidcSimulator(f"http://{LOCALHOST}:{port}")
    finally:
        stop_simulators(started)


def identity_settings(provider: OidcSimulator) -> dict[str, str]:
    """identity's settings that make `provider` its SSO provider, as devstack's table of
    simulators writes them for `make run`."""
    port = urlsplit(provider.url).port
    assert port is not None, provider.url
    return replace(simulator("oidc"), port=port).client_env(LOCALHOST)
