"""Platform roles over HTTP: operators assign and unassign them, `standard` stays, nobody
else may; a new access token carries the change."""

from __future__ import annotations

from jose import jwt

from testkit.identity import People, Person


async def test_operators_are_named_by_address(operator: Person) -> None:
    me = (await operator.api.expect(200, "GET", "/users/me")).json()
    assert me["roles"] == ["operations", "standard"]


async def test_an_operator_assigns_and_unassigns_roles(people: People, operator: Person) -> None:
    person = await people.person()
    roles = f"/users/{person.user_id}/roles"
    assigned = await operator.api.expect(
        200, "POST", roles + "/assign", json={"roles": ["operations"]}
    )
    assert assigned.json()["roles"] == ["operations", "standard"]
    token = (await people.login(person.email)).json()["access_token"]
    assert jwt.get_unverified_claims(token)["roles"] == ["operations", "standard"]

    unassigned = await operator.api.expect(
        200, "POST", roles + "/unassign", json={"roles": ["operations"]}
    )
    assert unassigned.json()["roles"] == ["standard"]


async def test_standard_is_never_removed(people: People, operator: Person) -> None:
    person = await people.person()
    answer = await operator.api.call(
        "POST", f"/users/{person.user_id}/roles/unassign", json={"roles": ["standard"]}
    )
    assert answer.status == 422
    me = (await person.api.expect(200, "GET", "/users/me")).json()
    assert me["roles"] == ["standard"]


async def test_a_standard_user_cannot_assign_roles(people: People) -> None:
    person = await people.person()
    answer = await person.api.call(
        "POST", f"/users/{person.user_id}/roles/assign", json={"roles": ["operations"]}
    )
    assert answer.status == 403
    me = (await person.api.expect(200, "GET", "/users/me")).json()
    assert me["roles"] == ["standard"]


async def test_an_unknown_role_is_refused(people: People, operator: Person) -> None:
    person = await people.person()
    answer = await operator.api.call(
        "POST", f"/users/{person.user_id}/roles/assign", json={"roles": ["admin"]}
    )
    assert answer.status == 422
