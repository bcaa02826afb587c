"""A local OpenID Connect provider, for tests and `make run`: the authorization code flow with
PKCE, as Google's or Microsoft's sign-in speaks it, without a login page.

Like a real provider (OpenID Connect Core 1.0, Discovery 1.0; RFC 6749, RFC 7636) it serves:

- `GET /.well-known/openid-configuration`: the discovery document; its `issuer` is the
  `--issuer` option, else the base URL the request came to;
- `GET /jwks`: the RS256 public keys its id_tokens are signed with, each with its `kid` (the
  key is made at start and held in memory only);
- `GET /authorize?response_type=code&client_id&redirect_uri&scope=openid...&state
  &code_challenge&code_challenge_method=S256[&nonce]`: signs in, at once, the person whose
  email is `login_hint` (there is no login page), with `given_name` and `family_name` from
  the query when given, else from the email's local part (`ada.lovelace@...` is Ada
  Lovelace), and `email_verified=false` to sign in someone whose email is not verified. It
  answers 302 to `redirect_uri` with `code` and `state`, or with `error` and `state` as
  RFC 6749 4.1.2.1 says; an unknown client or a redirect URI not registered for it is a 400
  shown here, never a redirect;
- `POST /token` (form: `grant_type=authorization_code`, `code`, `redirect_uri`,
  `code_verifier`; the client authenticated by HTTP Basic or by `client_id` and
  `client_secret` in the form): `{access_token, token_type, expires_in, id_token, scope}`
  once the verifier matches the challenge, the client and redirect URI are the code's, and
  the code is fresh (`--code-seconds`) and unused. The id_token (RS256) holds iss, aud and
  azp (the client id), sub (the same for an email across runs), email, email_verified,
  given_name, family_name, name, nonce (when given), at_hash, auth_time, iat and exp. Refusals are
  OAuth2 errors `{error, error_description}`: `invalid_client` 401, `invalid_grant`,
  `invalid_request`, `unsupported_grant_type` 400.

For tests, `POST /_simulator/rotate` makes a new signing key: id_tokens are signed with it
from then on, and the JWKS publishes it beside the one before, as a provider rotating its
keys does.

The client it knows (one; a test may build the Simulator with more) comes from options or
the environment, with development defaults:

    python -m simulators.oidc --port 8192 [--issuer URL] [--client-id platform-local]
        [--client-secret ...] [--redirect-uri URI ...] [--code-seconds 60]

    OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma-separated)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

DEFAULT_PORT = 8192
DEFAULT_CLIENT_ID = "platform-local"
DEFAULT_CLIENT_SECRET = "local-development-secret"
# Where the platform's sign-in pages take the code, in `make run` (the gateway on 8080).
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8080/sso/callback",
    "http://localhost:8080/sso/callback",
)
# Real providers give a code minutes at most (RFC 6749 4.1.2 recommends 10 at most).
DEFAULT_CODE_SECONDS = 60.0
TOKEN_SECONDS = 3600
SCOPES = ("openid", "email", "profile")
# RFC 7636 4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]; the S256 challenge is 43.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
# A fixed namespace: the same email gets the same subject in every run.
_SUBJECTS = uuid.UUID("6f1c9a52-3e0b-4d4e-9f27-6a0d3c1b8e41")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public: dict[str, str]

    @classmethod
    def generate(cls) -> Self:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = key.public_key().public_numbers()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = secrets.token_hex(8)

        def unsigned(number: int) -> str:
            return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))

        public = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": unsigned(numbers.n),
            "e": unsigned(numbers.e),
        }
        return cls(kid, pem, public)

    def sign(self, claims: Mapping[str, Any]) -> str:
        token: str = jwt.encode(dict(claims), self.private_pem, "RS256", headers={"kid": self.kid})
        return token


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    redirect_uris: frozenset[str]


@dataclass
class Grant:
    """What a code stands for until it is exchanged."""

    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    nonce: str | None
    person: Person
    authenticated_at: int
    expires_at: float


@dataclass(frozen=True)
class Person:
    email: str
    email_verified: bool
    given_name: str | None
    family_name: str | None

    @property
    def subject(self) -> str:
        return uuid.uuid5(_SUBJECTS, self.email.lower()).hex


class AuthorizeQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    response_type: str
    scope: str
    state: str | None = None
    nonce: str | None = Field(default=None, max_length=512)
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    login_hint: EmailStr | None = None
    given_name: str | None = Field(default=None, max_length=200)
    family_name: str | None = Field(default=None, max_length=200)
    email_verified: bool = True


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grant_type: str
    code: str = Field(min_length=1)
    redirect_uri: str = Field(min_length=1)
    code_verifier: str = Field(pattern=_VERIFIER.pattern)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Simulator:
    clients: Mapping[str, Client]
    issuer: str | None = None
    code_seconds: float = DEFAULT_CODE_SECONDS
    clock: Callable[[], float] = time.time
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    grants: dict[str, Grant] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/.well-known/openid-configuration", self._discovery),
                web.get("/jwks", self._jwks),
                web.get("/authorize", self._authorize),
                web.post("/token", self._token),
                web.post("/_simulator/rotate", self._rotate),
            ]
        )
        return app

    def _issuer(self, request: web.Request) -> str:
        return self.issuer or f"{request.scheme}://{request.host}"

    async def _discovery(self, request: web.Request) -> web.Response:
        issuer = self._issuer(request)
        return web.json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": list(SCOPES),
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": [
                    "iss",
                    "sub",
                    "aud",
                    "azp",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "email",
                    "email_verified",
                    "given_name",
                    "family_name",
                    "name",
                ],
            }
        )

    async def _jwks(self, _: web.Request) -> web.Response:
        return web.json_response({"keys": [key.public for key in reversed(self.keys)]})

    async def _rotate(self, _: web.Request) -> web.Response:
        # The new key signs from now on; the one before stays published for tokens in flight.
        self.keys = [self.keys[-1], SigningKey.generate()]
        return web.json_response({"kid": self.keys[-1].kid})

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return _oauth_error(400, "invalid_client", "unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        # Never redirect anywhere not registered: that would hand codes to whoever asked.
        if redirect_uri not in client.redirect_uris:
            return _oauth_error(400, "invalid_request", "redirect_uri not registered")
        state = query.get("state")
        try:
            asked = AuthorizeQuery.model_validate(dict(query))
            code = self._grant(client, redirect_uri, asked)
        except ValidationError as exc:
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state}, exc)
        except OAuthError as exc:
            return _redirect(redirect_uri, {"error": exc.error, "state": state}, exc)
        return _redirect(redirect_uri, {"code": code, "state": state})

    def _grant(self, client: Client, redirect_uri: str, asked: AuthorizeQuery) -> str:
        if asked.response_type != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code")
        if "openid" not in asked.scope.split():
            raise OAuthError("invalid_scope", "the scope must include openid")
        if asked.code_challenge is None or asked.code_challenge_method != "S256":
            raise OAuthError("invalid_request", "PKCE is required: code_challenge and S256")
        if not _CHALLENGE.match(asked.code_challenge):
            raise OAuthError("invalid_request", "code_challenge is not an S256 challenge")
        if asked.login_hint is None:
            # There is no page to ask the person on: as with prompt=none.
            raise OAuthError("login_required", "name the person to sign in in login_hint")
        now = self.clock()
        self._forget_expired(now)
        code = secrets.token_urlsafe(32)
        given, family = _names(str(asked.login_hint))
        self.grants[code] = Grant(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            challenge=asked.code_challenge,
            scope=asked.scope,
            nonce=asked.nonce,
            person=Person(
                email=str(asked.login_hint),
                email_verified=asked.email_verified,
                given_name=asked.given_name or given,
                family_name=asked.family_name or family,
            ),
            authenticated_at=int(now),
            expires_at=now + self.code_seconds,
        )
        return code

    def _forget_expired(self, now: float) -> None:
        for code in [c for c, grant in self.grants.items() if grant.expires_at <= now]:
            del self.grants[code]

    async def _token(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            client = self._client(request, fields)
            return self._tokens(request, client, fields)
        except OAuthError as exc:
            headers = {"WWW-Authenticate": "Basic"} if exc.status == 401 else None
            return _oauth_error(exc.status, exc.error, exc.description, headers)

    def _client(self, request: web.Request, form: Mapping[str, str]) -> Client:
        basic = request.headers.get("Authorization", "")
        posted = "client_secret" in form
        if basic and posted:
            raise OAuthError("invalid_request", "authenticate the client one way only")
        if basic:
            client_id, secret = _basic_credentials(basic)
        elif posted:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the authenticated one")
        return client

    def _tokens(
        self, request: web.Request, client: Client, fields: Mapping[str, str]
    ) -> web.Response:
        if fields.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code")
        try:
            form = TokenForm.model_validate(fields)
        except ValidationError as exc:
            raise OAuthError("invalid_request", _reasons(exc)) from exc
        now = self.clock()
        # Single use: taken out whatever follows, so a second try finds nothing.
        grant = self.grants.pop(form.code, None)
        if grant is None or grant.expires_at <= now:
            raise OAuthError("invalid_grant", "the code is unknown, expired or already used")
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if grant.redirect_uri != form.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's")
        if not hmac.compare_digest(s256(form.code_verifier), grant.challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        person = grant.person
        claims: dict[str, Any] = {
            "iss": self._issuer(request),
            "sub": person.subject,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": int(now),
            "exp": int(now) + TOKEN_SECONDS,
            "auth_time": grant.authenticated_at,
            "email": person.email,
            "email_verified": person.email_verified,
        }
        names = {"given_name": person.given_name, "family_name": person.family_name}
        claims |= {claim: value for claim, value in names.items() if value}
        full_name = " ".join(name for name in names.values() if name)
        if full_name:
            claims["name"] = full_name
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        access_token = secrets.token_urlsafe(32)
        # As Google's do: the left half of the access token's SHA-256 (OIDC Core 3.1.3.6).
        claims["at_hash"] = _b64url(hashlib.sha256(access_token.encode()).digest()[:16])
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "scope": grant.scope,
                "id_token": self.keys[-1].sign(claims),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _names(email: str) -> tuple[str | None, str | None]:
    """`ada.lovelace@x` -> (Ada, Lovelace); `ada@x` -> (Ada, None)."""
    local = email.split("@", 1)[0].split("+", 1)[0]
    parts = [part.capitalize() for part in re.split(r"[._-]+", local) if part]
    if not parts:
        return None, None
    return parts[0], " ".join(parts[1:]) or None


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "use HTTP Basic or client_secret_post", 401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    # RFC 6749 2.3.1: each is form-urlencoded before it is joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _redirect(
    redirect_uri: str, params: Mapping[str, str | None], reason: Exception | None = None
) -> web.Response:
    answer = {name: value for name, value in params.items() if value is not None}
    if reason is not None:
        answer["error_description"] = (
            _reasons(reason) if isinstance(reason, ValidationError) else str(reason)
        )
    scheme, netloc, path, query, fragment = urlsplit(redirect_uri)
    query = "&".join(part for part in (query, urlencode(answer)) if part)
    return web.Response(
        status=302, headers={"Location": urlunsplit((scheme, netloc, path, query, fragment))}
    )


def _oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def main(argv: list[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--issuer",
        default=env.get("OIDC_ISSUER") or None,
        help="the issuer it names (default: the base URL each request came to)",
    )
    parser.add_argument("--client-id", default=env.get("OIDC_CLIENT_ID", DEFAULT_CLIENT_ID))
    parser.add_argument(
        "--client-secret", default=env.get("OIDC_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        help=f"a redirect URI registered for the client ({', '.join(DEFAULT_REDIRECT_URIS)})",
    )
    parser.add_argument("--code-seconds", type=float, default=DEFAULT_CODE_SECONDS)
    args = parser.parse_args(argv)
    from_env = [uri.strip() for uri in env.get("OIDC_REDIRECT_URIS", "").split(",")]
    redirect_uris = args.redirect_uri or [uri for uri in from_env if uri] or DEFAULT_REDIRECT_URIS
    if args.issuer is not None:
        args.issuer = args.issuer.rstrip("/")
    client = Client(args.client_id, args.client_secret, frozenset(redirect_uris))
    simulator = Simulator({client.client_id: client}, args.issuer, args.code_seconds)
    web.run_app(simulator.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
