from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings


def test_upstreams_and_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "UPSTREAMS", '{"cars": "http://127.0.0.1:8101/", "bookings": "http://127.0.0.1:8102"}'
    )
    monkeypatch.setenv("ROUTES", '{"/cars": "cars", "/bookings": "bookings"}')
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("RATE_LIMIT_PER_SECOND", "5")
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "2.5")
    settings = GatewaySettings()
    assert settings.upstreams == {
        "cars": "http://127.0.0.1:8101",
        "bookings": "http://127.0.0.1:8102",
    }
    assert settings.routes == {"/cars": "cars", "/bookings": "bookings"}
    assert (settings.service_name, settings.port) == ("gateway", 9000)
    assert settings.rate_limit_per_second == 5
    assert settings.upstream_read_timeout == 2.5


def test_defaults_listen_on_8080_with_no_upstreams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSTREAMS", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    settings = GatewaySettings()
    assert (settings.port, settings.upstreams) == (8080, {})


@pytest.mark.parametrize("url", ["127.0.0.1:8101", "ftp://files", "http://"])
def test_an_upstream_needs_an_http_base_url(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        GatewaySettings(upstreams={"cars": url})


def test_every_route_names_a_configured_upstream() -> None:
    with pytest.raises(ValidationError, match="no upstream: images"):
        GatewaySettings(upstreams={"cars": "http://cars:8101"}, routes={"/images": "images"})
