from __future__ import annotations

from ipaddress import ip_network
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from pydantic import ValidationError

from gateway.ratelimit import RateLimiter, RouteLimits, client_address, retry_after
from gateway.settings import GatewaySettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rate: float = 2.0, burst: int = 3, max_callers: int = 100) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(rate, burst, max_callers, clock=clock), clock


def test_a_burst_is_allowed_then_the_caller_waits_for_a_token() -> None:
    bucket, _ = limiter(rate=2.0, burst=3)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    bucket, clock = limiter(rate=2.0, burst=3)
    for _ in range(3):
        bucket.take("a")
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0.0
    clock.now += 3600
    assert [bucket.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.take("a") > 0.0


def test_a_refused_request_costs_nothing() -> None:
    bucket, clock = limiter(rate=1.0, burst=1)
    bucket.take("a")
    assert bucket.take("a") == pytest.approx(1.0)
    clock.now += 0.25
    assert bucket.take("a") == pytest.approx(0.75)
    clock.now += 0.75
    assert bucket.take("a") == 0.0


def test_callers_have_their_own_buckets() -> None:
    bucket, _ = limiter(rate=1.0, burst=1)
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0.0
    assert bucket.take("b") == 0.0


def test_buckets_idle_long_enough_to_be_full_are_dropped() -> None:
    bucket, clock = limiter(rate=2.0, burst=4)
    bucket.take("a")
    bucket.take("b")
    clock.now += 1.0
    bucket.take("c")
    assert len(bucket) == 3
    clock.now += 1.5  # a and b idle 2.5 s > 4 / 2 s; c only 1.5 s
    bucket.take("d")
    assert len(bucket) == 2


def test_the_number_of_callers_is_bounded_least_recently_used_first() -> None:
    bucket, _ = limiter(rate=1.0, burst=1, max_callers=2)
    bucket.take("a")
    bucket.take("b")
    assert bucket.take("a") > 0.0  # a is now the most recently used
    bucket.take("c")  # evicts b
    assert len(bucket) == 2
    assert bucket.take("a") > 0.0  # a kept its spent bucket
    assert bucket.take("b") == 0.0  # b starts over


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: str) -> None:
    assert retry_after(wait) == header


@pytest.mark.parametrize(("rate", "burst", "max_callers"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int, max_callers: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_callers)


def from_peer(peer: str, *forwarded_for: str) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded_for)
    return make_mocked_request("GET", "/cars", headers, transport=transport)


PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


def test_without_trusted_proxies_the_client_is_the_peer() -> None:
    request = from_peer("198.51.100.9", "203.0.113.1")
    assert client_address(request, []) == "198.51.100.9"


def test_a_peer_that_is_no_trusted_proxy_is_the_client() -> None:
    request = from_peer("198.51.100.9", "203.0.113.1")
    assert client_address(request, PROXIES) == "198.51.100.9"


def test_behind_a_trusted_proxy_the_client_is_the_address_it_saw() -> None:
    # Everything left of what the proxy appended was written by the client.
    request = from_peer("10.0.0.5", "192.0.2.66, 203.0.113.1")
    assert client_address(request, PROXIES) == "203.0.113.1"


def test_a_chain_of_trusted_proxies_is_walked_from_the_nearest() -> None:
    request = from_peer("10.0.0.5", "192.0.2.66, 203.0.113.1", "10.1.1.1, 10.2.2.2")
    assert client_address(request, PROXIES) == "203.0.113.1"


def test_ipv6_proxies_and_clients() -> None:
    request = from_peer("fd00::5", "2001:db8::7")
    assert client_address(request, PROXIES) == "2001:db8::7"


def test_when_every_hop_is_a_trusted_proxy_the_farthest_is_the_client() -> None:
    request = from_peer("10.0.0.5", "10.9.9.9, 10.1.1.1")
    assert client_address(request, PROXIES) == "10.9.9.9"


@pytest.mark.parametrize("entry", ["unknown", "203.0.113.1:443", ""])
def test_an_entry_that_is_no_address_ends_the_walk_at_the_hop_that_wrote_it(entry: str) -> None:
    request = from_peer("10.0.0.5", f"{entry}, 10.1.1.1")
    assert client_address(request, PROXIES) == "10.1.1.1"


def test_route_limits_match_the_method_and_whole_path_segments() -> None:
    record, contact = limiter()[0], limiter()[0]
    routes = RouteLimits([("post", "/record", record), ("POST", "/contact-sales", contact)])
    assert routes.limiter_for("POST", "/record") is record
    assert routes.limiter_for("POST", "/record/use") is record
    assert routes.limiter_for("POST", "/contact-sales") is contact
    assert routes.limiter_for("POST", "/recordings") is None
    assert routes.limiter_for("GET", "/record/use") is None
    assert routes.limiter_for("POST", "/cars") is None
    assert not RouteLimits() and routes


def test_the_default_route_limits_are_stricter_than_the_general_one() -> None:
    settings = GatewaySettings()
    limits = {(limit.method, limit.path): limit for limit in settings.route_rate_limits}
    assert set(limits) == {
        ("POST", "/contact-sales"),
        ("POST", "/record"),
        ("POST", "/credentials/auth"),
        ("POST", "/credentials/register"),
        ("POST", "/credentials/reset"),
        ("POST", "/sso/auth"),
        ("POST", "/machines/register"),
        ("POST", "/tokens/exchange"),
    }
    for limit in limits.values():
        assert limit.per_second < settings.rate_limit_per_second
        assert limit.burst < settings.rate_limit_burst


@pytest.mark.parametrize(
    "limit",
    [
        {"method": "post", "path": "/record", "per_second": 1, "burst": 1},
        {"method": "POST", "path": "record", "per_second": 1, "burst": 1},
        {"method": "POST", "path": "/record/", "per_second": 1, "burst": 1},
        {"method": "POST", "path": "/record", "per_second": 0, "burst": 1},
        {"method": "POST", "path": "/record", "per_second": 1, "burst": 0},
        {"method": "POST", "path": "/record", "per_second": 1, "burst": 1, "extra": 1},
    ],
)
def test_a_bad_route_limit_is_refused(limit: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(route_rate_limits=[limit])


def test_route_limits_are_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = '[{"method": "POST", "path": "/record", "per_second": 2, "burst": 3}]'
    monkeypatch.setenv("ROUTE_RATE_LIMITS", limits)
    [limit] = GatewaySettings().route_rate_limits
    assert (limit.method, limit.path, limit.per_second, limit.burst) == ("POST", "/record", 2, 3)
