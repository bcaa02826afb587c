"""Who may read records across a tenant's users (emails, audit trail): operators anyone's,
an organization's owners their own, nobody else."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from chassis.web.auth import CALLER_KEY, Caller, readable_tenant
from chassis.web.problems import Problem


def _request(caller: Caller | None) -> object:
    request = make_mocked_request("GET", "/audits")
    if caller is not None:
        request[CALLER_KEY] = caller
    return request


OPERATOR = Caller("op", "t-ops", frozenset({"standard", "operations"}))
OWNER = Caller("own", "t-1", frozenset({"standard"}), frozenset({"owner"}))
MEMBER = Caller("mem", "t-1", frozenset({"standard"}), frozenset({"member"}))
OWNER_WITHOUT_TENANT = Caller("own", None, frozenset({"standard"}), frozenset({"owner"}))


@pytest.mark.parametrize(("asked", "read"), [(None, None), ("t-1", "t-1"), ("t-2", "t-2")])
def test_an_operator_reads_any_organization_or_all(asked: str | None, read: str | None) -> None:
    assert readable_tenant(_request(OPERATOR), asked) == read  # type: ignore[arg-type]


@pytest.mark.parametrize("asked", [None, "t-1"])
def test_an_owner_reads_their_own_organization(asked: str | None) -> None:
    assert readable_tenant(_request(OWNER), asked) == "t-1"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("caller", "asked", "status"),
    [
        (OWNER, "t-2", 403),
        (MEMBER, None, 403),
        (MEMBER, "t-1", 403),
        (OWNER_WITHOUT_TENANT, None, 403),
        (None, None, 401),
    ],
)
def test_everyone_else_is_refused(caller: Caller | None, asked: str | None, status: int) -> None:
    with pytest.raises(Problem) as refused:
        readable_tenant(_request(caller), asked)  # type: ignore[arg-type]
    assert refused.value.status == status
