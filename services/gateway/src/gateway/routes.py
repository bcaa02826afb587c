"""Which upstream service answers a public path: the gateway's route table."""

from __future__ import annotations

from collections.abc import Mapping


class RouteTable:
    """Public path prefix -> upstream service name (the ROUTES setting, written from the
    devstack service table). Longest prefix wins, matched on whole path segments ("/carsx"
    is not "/cars").

    `path` is the decoded path: "%2F" and "%2e" count as the characters they stand for.
    """

    def __init__(self, routes: Mapping[str, str]) -> None:
        for prefix in routes:
            if not prefix.startswith("/") or prefix == "/" or prefix.endswith("/"):
                raise ValueError(f"route prefix {prefix!r} must look like /name")
        self._routes = dict(routes)

    def match(self, path: str) -> str | None:
        # "/cars/../bookings" would reach cars while naming bookings: route no such path.
        if "/." in path and any(segment in (".", "..") for segment in path.split("/")):
            return None
        candidate = path
        while candidate:
            service = self._routes.get(candidate)
            if service is not None:
                return service
            candidate = candidate[: candidate.rfind("/")]
        return None
