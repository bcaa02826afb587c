from __future__ import annotations

import pytest

from gateway.routes import RouteTable

TABLE = RouteTable({"/cars": "cars", "/cars/reports": "reports", "/bookings": "bookings"})


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/cars", "cars"),
        ("/cars/", "cars"),
        ("/cars/42", "cars"),
        ("/cars/42/unavailabilities", "cars"),
        ("/cars/reports", "reports"),
        ("/cars/reports/monthly", "reports"),
        ("/cars/reportsx", "cars"),
        ("/bookings", "bookings"),
        ("/carsx", None),
        ("/car", None),
        ("/", None),
        ("/health-of-cars", None),
        ("/unknown/cars", None),
        ("/cars/../bookings", None),
        ("/cars/./42", None),
        ("/cars/..", None),
        ("/cars/.well-known", "cars"),
        ("/cars/..42", "cars"),
    ],
)
def test_longest_prefix_on_segment_boundaries(path: str, service: str | None) -> None:
    assert TABLE.match(path) == service


@pytest.mark.parametrize("prefix", ["cars", "/", "/cars/"])
def test_prefixes_must_look_like_paths(prefix: str) -> None:
    with pytest.raises(ValueError, match="route prefix"):
        RouteTable({prefix: "cars"})
