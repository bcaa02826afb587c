from __future__ import annotations

from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.headers import downstream_headers, upstream_headers


def client_request(headers: list[tuple[str, str]]) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("198.51.100.9", 40000) if name == "peername" else default
    )
    return make_mocked_request("POST", "/cars", CIMultiDict(headers), transport=transport)


def names(headers: CIMultiDict[str]) -> set[str]:
    return {name.lower() for name in headers}


def test_hop_by_hop_and_connection_listed_headers_stay_at_the_gateway() -> None:
    request = client_request(
        [
            ("Host", "api.example.com"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Connection", "Upgrade"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic c2VjcmV0"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Secret-Hop", "1"),
            ("Expect", "100-continue"),
            ("Accept", "application/json"),
            ("Authorization", "Bearer abc"),
        ]
    )
    forwarded = upstream_headers(request, "rid", "cid")
    assert names(forwarded) == {
        "accept",
        "authorization",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
        "x-correlation-id",
    }
    assert forwarded["Authorization"] == "Bearer abc"


def test_identity_asserted_by_the_client_is_dropped() -> None:
    request = client_request(
        [
            ("X-User-Id", "admin"),
            ("X-Tenant-Id", "someone-else"),
            ("X-Caller-Roles", "operations"),
            ("X-Roles", "operations"),
            ("X-Authenticated-User", "admin"),
            ("X-Auth-Request-Email", "admin@example.com"),
            ("X-Forwarded-User", "admin"),
            ("X-Remote-User", "admin"),
            ("X-Userland", "kept: not an identity header"),
        ]
    )
    forwarded = upstream_headers(request, "rid", "cid")
    assert {
        n for n in names(forwarded) if not n.startswith(("x-forwarded-", "x-request", "x-corr"))
    } == {"x-userland"}


def test_forwarding_headers_are_set_by_the_gateway() -> None:
    request = client_request(
        [
            ("Host", "api.example.com"),
            ("X-Forwarded-For", "203.0.113.1"),
            ("X-Forwarded-For", "203.0.113.2"),
            ("X-Forwarded-Proto", "gopher"),
            ("X-Forwarded-Host", "evil.example.com"),
            ("X-Request-Id", "client-said"),
        ]
    )
    forwarded = upstream_headers(request, "rid", "cid")
    assert forwarded.getall("X-Forwarded-For") == ["203.0.113.1, 203.0.113.2, 198.51.100.9"]
    assert forwarded.getall("X-Forwarded-Proto") == ["http"]
    assert forwarded.getall("X-Forwarded-Host") == ["api.example.com"]
    assert forwarded.getall("X-Request-Id") == ["rid"]
    assert forwarded.getall("X-Correlation-Id") == ["cid"]


def test_repeated_end_to_end_headers_keep_every_value_in_order() -> None:
    request = client_request([("Accept", "text/html"), ("Cookie", "a=1"), ("Accept", "*/*")])
    assert upstream_headers(request, "r", "c").getall("Accept") == ["text/html", "*/*"]


def test_responses_lose_hop_by_hop_headers_and_carry_the_request_ids() -> None:
    upstream = CIMultiDictProxy(
        CIMultiDict(
            [
                ("Connection", "X-Hop"),
                ("X-Hop", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Transfer-Encoding", "chunked"),
                ("Proxy-Authenticate", "Basic"),
                ("Content-Type", "application/json"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("X-Request-Id", "upstream-made-this-up"),
            ]
        )
    )
    answered = downstream_headers(upstream, "rid", "cid")
    assert names(answered) == {"content-type", "set-cookie", "x-request-id", "x-correlation-id"}
    assert answered.getall("Set-Cookie") == ["a=1", "b=2"]
    assert answered["X-Request-Id"] == "rid"
