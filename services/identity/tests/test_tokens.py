"""Access and refresh tokens on the real MongoDB, over HTTP: the access token's claims,
refresh with rotation, a spent refresh token presented again revoking its whole family,
revocation, the JWKS, and signing-key rotation."""

from __future__ import annotations

from jose import jwt

from testkit.api import PlatformClient
from testkit.identity import People, Person
from testkit.stored import Database
from testkit.waiting import eventually

FIFTEEN_MINUTES = 15 * 60


async def refresh(anonymous: PlatformClient, refresh_token: str) -> tuple[int, dict[str, str]]:
    answer = await anonymous.call("POST", "/tokens/refresh", json={"refresh_token": refresh_token})
    return answer.status, answer.json()


async def test_the_access_token_names_the_user_their_organization_and_roles(
    people: People, anonymous: PlatformClient
) -> None:
    person = await people.person()
    jwks = (await anonymous.expect(200, "GET", "/.well-known/jwks.json")).json()
    claims = jwt.decode(
        person.access_token,
        jwks,
        algorithms=["RS256"],
        audience="platform",
        issuer="platform-identity",
    )
    assert claims["sub"] == person.user_id
    assert claims["tenant_id"] == person.organization_id
    assert claims["roles"] == ["standard"]
    assert claims["org_roles"] == ["billing_admin", "member", "owner"]
    assert claims["exp"] - claims["iat"] == FIFTEEN_MINUTES
    me = (await person.api.expect(200, "GET", "/users/me")).json()
    assert me["id"] == person.user_id and me["email"] == person.email


async def test_refresh_rotates_and_a_spent_token_revokes_its_family(
    people: People, anonymous: PlatformClient, database: Database
) -> None:
    person = await people.person()
    first = person.tokens["refresh_token"]
    status, second = await refresh(anonymous, first)
    assert status == 200 and second["refresh_token"] != first
    status, third = await refresh(anonymous, second["refresh_token"])
    assert status == 200

    # The first token again: stolen, or replayed. Every token of that login is revoked.
    status, problem = await refresh(anonymous, first)
    assert status == 401 and "log in again" in problem["detail"]
    status, _ = await refresh(anonymous, third["refresh_token"])
    assert status == 401, "the newest token of the family is revoked too"

    # Another login of the same person is another family, untouched.
    other = (await people.login(person.email)).json()
    status, _ = await refresh(anonymous, other["refresh_token"])
    assert status == 200
    revoked = await database["refresh_tokens"].count_documents(
        {"user_id": person.user_id, "revoked_at": {"$ne": None}}
    )
    assert revoked == 3


async def test_revoke_ends_the_login(people: People, anonymous: PlatformClient) -> None:
    person = await people.person()
    token = {"refresh_token": person.tokens["refresh_token"]}
    await anonymous.expect(204, "POST", "/tokens/revoke", json=token)
    status, _ = await refresh(anonymous, person.tokens["refresh_token"])
    assert status == 401
    unknown = {"refresh_token": "rt_" + "x" * 40}
    await anonymous.expect(204, "POST", "/tokens/revoke", json=unknown)


async def test_refresh_tokens_are_stored_only_as_digests(
    people: People, database: Database
) -> None:
    person = await people.person()
    secret = person.tokens["refresh_token"]
    async for doc in database["refresh_tokens"].find({"user_id": person.user_id}):
        assert secret not in str(doc)


async def test_a_rotated_key_keeps_verifying_its_tokens(
    people: People, operator: Person, anonymous: PlatformClient
) -> None:
    person = await people.person()
    old_kid = jwt.get_unverified_header(person.access_token)["kid"]
    standard = await person.api.call("POST", "/signing-keys/rotate")
    assert standard.status == 403
    rotated = await operator.api.expect(201, "POST", "/signing-keys/rotate")
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid

    jwks = (await anonymous.expect(200, "GET", "/.well-known/jwks.json")).json()
    assert {old_kid, new_kid} <= {key["kid"] for key in jwks["keys"]}
    await person.api.expect(200, "GET", "/users/me")
    # The new key is published at once, and signs a moment later (publication: 1 s here).
    early = (await people.login(person.email)).json()["access_token"]
    assert jwt.get_unverified_header(early)["kid"] == old_kid

    async def signed_by_the_new_key() -> str | None:
        token = str((await people.login(person.email)).json()["access_token"])
        return token if jwt.get_unverified_header(token)["kid"] == new_kid else None

    fresh = await eventually(signed_by_the_new_key, timeout=5, interval=0.2)
    await anonymous.as_caller(fresh).expect(200, "GET", "/users/me")
    await anonymous.as_caller(early).expect(200, "GET", "/users/me")
