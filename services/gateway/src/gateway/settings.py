"""Gateway settings, read from the environment (UPSTREAMS is a JSON object)."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator

from chassis.config import WebSettings
from chassis.web.health import CHECK_TIMEOUT


class RouteRateLimit(BaseModel):
    """A stricter limit per client address on one route: a method and a path prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(pattern=r"^[A-Z]+$")
    path: str = Field(pattern=r"^(/[^/]+)+$")
    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


# Public writes anyone may send without signing in: a person sends the contact form a few
# times at most; a browser sends recordings (page views, traces) in bursts, not a flood.
# The credential routes are what a brute-forcer hammers (passwords, keys, SSO codes): a person
# signs in a few times a day, an office behind one address a few a second at most; those that
# create accounts or send emails (register, reset, machines) are rarer still.
DEFAULT_ROUTE_RATE_LIMITS = [
    RouteRateLimit(method="POST", path="/contact-sales", per_second=0.1, burst=5),
    RouteRateLimit(method="POST", path="/record", per_second=10.0, burst=50),
    RouteRateLimit(method="POST", path="/credentials/auth", per_second=1.0, burst=10),
    RouteRateLimit(method="POST", path="/credentials/register", per_second=0.1, burst=5),
    # Requesting a reset and completing it (/credentials/reset/complete) share the bucket.
    RouteRateLimit(method="POST", path="/credentials/reset", per_second=0.1, burst=5),
    RouteRateLimit(method="POST", path="/sso/auth", per_second=1.0, burst=10),
    RouteRateLimit(method="POST", path="/machines/register", per_second=0.1, burst=5),
    RouteRateLimit(method="POST", path="/tokens/exchange", per_second=1.0, burst=10),
]


class GatewaySettings(WebSettings):
    service_name: str = "gateway"
    port: int = Field(default=8080, ge=1, le=65535)

    # Service name to base URL, e.g. {"cars": "http://127.0.0.1:8101"}.
    upstreams: dict[str, str] = Field(default_factory=dict)
    # Public path prefix to service name, e.g. {"/cars": "cars"}; devstack, compose and the
    # k8s manifests write it from the one service table.
    routes: dict[str, str] = Field(default_factory=dict)
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    # Longest silence allowed while waiting for or reading an upstream response.
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_max_connections: int = Field(default=512, ge=1)
    # How long each upstream's /health is waited for (no longer than a check of the chassis).
    health_timeout: float = Field(default=1.0, gt=0, le=CHECK_TIMEOUT)
    # Each upstream's /openapi.json, for the merged document, kept this long.
    docs_timeout: float = Field(default=1.0, gt=0)
    docs_cache_seconds: float = Field(default=10.0, ge=0)

    # Per caller: a verified one per tenant and user, anyone else (no token, or a refused
    # one) per client address; 0 turns rate limiting off.
    rate_limit_per_second: float = Field(default=100.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    rate_limit_max_callers: int = Field(default=100_000, ge=1)
    # Stricter limits per client address on some routes, on top of the one above (JSON: a list
    # of {method, path, per_second, burst}; [] turns them off).
    route_rate_limits: list[RouteRateLimit] = Field(
        default_factory=lambda: list(DEFAULT_ROUTE_RATE_LIMITS)
    )
    # Proxies in front of the gateway (networks, JSON): only behind these is X-Forwarded-For
    # believed when telling clients apart; otherwise a client is its socket's address.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    # An API key (`X-API-Key: apk_...` or `Authorization: Bearer apk_...`) is traded with
    # this upstream (`POST /tokens/exchange`) for an access token, forwarded in its place;
    # with no such upstream, a request carrying a key is answered 503.
    api_key_service: str = Field(default="identity", min_length=1)
    # A key's token, or its refusal, is reused this long (a token never past its expiry): a
    # deleted key is refused within this many seconds; 0 asks identity on every request.
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    # How long an exchange is waited for before the request is answered 503.
    api_key_exchange_timeout: float = Field(default=2.0, gt=0)
    # Keys remembered, accepted ones and refused ones apart (so a flood of bad keys cannot
    # push out good ones); the oldest go first.
    api_key_cache_size: int = Field(default=10_000, ge=1)

    # Images go up to 100 MB, multipart framing included.
    max_body_bytes: int = Field(default=110 * 1024 * 1024, ge=0)

    @field_validator("upstreams")
    @classmethod
    def _base_urls(cls, upstreams: dict[str, str]) -> dict[str, str]:
        for name, url in upstreams.items():
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(f"upstream {name!r} needs an http(s) base URL, got {url!r}")
        return {name: url.rstrip("/") for name, url in upstreams.items()}

    @model_validator(mode="after")
    def _routes_reach_upstreams(self) -> Self:
        unknown = sorted(set(self.routes.values()) - set(self.upstreams))
        if unknown:
            raise ValueError(f"ROUTES name services with no upstream: {', '.join(unknown)}")
        return self
