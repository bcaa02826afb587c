"""Header hygiene at the edge: what crosses the gateway in each direction."""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER

# RFC 9110 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
HOP_BY_HOP_PREFIXES = ("proxy-",)

# Identity is what the gateway and services derive from a verified token; a client
# must not be able to assert it in a header that some service might trust.
IDENTITY_HEADER_PREFIXES = (
    "x-user-",
    "x-tenant-",
    "x-caller-",
    "x-roles",
    "x-authenticated-",
    "x-auth-request-",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-remote-user",
)

FORWARDED_FOR = "X-Forwarded-For"
FORWARDED_PROTO = "X-Forwarded-Proto"
FORWARDED_HOST = "X-Forwarded-Host"

# Set by the gateway itself (Host by the client library from the upstream URL); the
# gateway already answered any Expect: 100-continue from the client.
_REPLACED = frozenset(
    name.lower()
    for name in (
        "Host",
        "Expect",
        FORWARDED_FOR,
        FORWARDED_PROTO,
        FORWARDED_HOST,
        REQUEST_ID_HEADER,
        CORRELATION_ID_HEADER,
    )
)
_DROPPED_UPSTREAM = HOP_BY_HOP | _REPLACED
_DROPPED_UPSTREAM_PREFIXES = HOP_BY_HOP_PREFIXES + IDENTITY_HEADER_PREFIXES


def _kept(
    headers: CIMultiDictProxy[str], dropped: frozenset[str], prefixes: tuple[str, ...]
) -> list[tuple[str, str]]:
    # Connection names further headers the sender meant for this hop only.
    listed = (
        {
            token.strip().lower()
            for value in headers.getall("Connection")
            for token in value.split(",")
        }
        if "Connection" in headers
        else ()
    )
    return [
        (name, value)
        for name, value in headers.items()
        if not ((lower := name.lower()) in dropped or lower.startswith(prefixes) or lower in listed)
    ]


def upstream_headers(
    request: web.Request, request_id: str, correlation_id: str
) -> CIMultiDict[str]:
    incoming = request.headers
    headers = CIMultiDict(_kept(incoming, _DROPPED_UPSTREAM, _DROPPED_UPSTREAM_PREFIXES))
    chain = ", ".join(incoming.getall(FORWARDED_FOR, ()))
    peer = request.remote or "unknown"
    headers[FORWARDED_FOR] = f"{chain}, {peer}" if chain else peer
    headers[FORWARDED_PROTO] = request.scheme
    headers[FORWARDED_HOST] = request.host
    headers[REQUEST_ID_HEADER] = request_id
    headers[CORRELATION_ID_HEADER] = correlation_id
    return headers


def downstream_headers(
    upstream: CIMultiDictProxy[str], request_id: str, correlation_id: str
) -> CIMultiDict[str]:
    headers = CIMultiDict(_kept(upstream, HOP_BY_HOP, HOP_BY_HOP_PREFIXES))
    headers[REQUEST_ID_HEADER] = request_id
    headers[CORRELATION_ID_HEADER] = correlation_id
    return headers
