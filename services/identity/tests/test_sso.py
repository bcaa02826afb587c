"""Single sign-on over HTTP against the OIDC simulator served for real: the first sign-in
registers the person with their personal organization, the next signs in the same user, a
person registered with a password and the same verified address is linked, and refusals
store nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from simulators.oidc import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from testkit.api import PlatformClient
from testkit.identity import Mailbag, People, new_email
from testkit.oidc import OidcSimulator, SignIn, served_simulator
from testkit.stored import Database


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OidcSimulator]:
    async with served_simulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def identity_overrides(provider: OidcSimulator) -> dict[str, Any]:
    local = {
        "name": "local",
        "issuer": provider.url,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    return {"sso_providers": [local]}


def body(sign_in: SignIn, provider: str = "local") -> dict[str, str]:
    return {
        "provider": provider,
        "auth_code": sign_in.code,
        "code_verifier": sign_in.code_verifier,
        "redirect_uri": sign_in.redirect_uri,
    }


async def test_the_first_sign_in_registers_the_person(
    provider: OidcSimulator, anonymous: PlatformClient, database: Database
) -> None:
    email = new_email("sso")
    first = await anonymous.expect(
        200, "POST", "/sso/auth", json=body(await provider.sign_in(email, given_name="Grace"))
    )
    tokens = first.json()
    me = (await anonymous.as_caller(tokens["access_token"]).expect(200, "GET", "/users/me")).json()
    assert me["email"] == email and me["first_name"] == "Grace" and me["kind"] == "person"
    assert me["memberships"][0]["roles"] == ["billing_admin", "member", "owner"]

    again = await anonymous.expect(
        200, "POST", "/sso/auth", json=body(await provider.sign_in(email))
    )
    assert again.json()["user_id"] == me["id"]
    assert await database["users"].count_documents({"email": email}) == 1
    assert await database["sso_links"].count_documents({"user_id": me["id"]}) == 1
    assert await database["credentials"].count_documents({"email": email}) == 0, (
        "a person who signs in through a provider has no password"
    )


async def test_a_registered_person_is_linked_by_their_verified_address(
    provider: OidcSimulator, anonymous: PlatformClient, people: People
) -> None:
    person = await people.person()
    signed_in = await anonymous.expect(
        200, "POST", "/sso/auth", json=body(await provider.sign_in(person.email))
    )
    assert signed_in.json()["user_id"] == person.user_id


async def test_refusals_store_nothing(
    provider: OidcSimulator, anonymous: PlatformClient, database: Database
) -> None:
    email = new_email("refused")
    unverified = await provider.sign_in(email, email_verified="false")
    assert (await anonymous.call("POST", "/sso/auth", json=body(unverified))).status == 401
    sign_in = await provider.sign_in(email)
    wrong = {**body(sign_in), "code_verifier": "x" * 43}
    assert (await anonymous.call("POST", "/sso/auth", json=wrong)).status == 401
    unknown = await anonymous.call("POST", "/sso/auth", json=body(sign_in, provider="nowhere"))
    assert unknown.status == 404
    assert await database["users"].count_documents({"email": email}) == 0
    providers = (await anonymous.expect(200, "GET", "/sso/providers")).json()
    assert providers == {"providers": ["local"]}


async def test_a_first_sign_in_accepts_an_invitation(
    provider: OidcSimulator, anonymous: PlatformClient, people: People, mail: Mailbag
) -> None:
    owner = await people.person()
    company = (await owner.api.expect(201, "POST", "/organizations", json={"name": "Co"})).json()
    guest = new_email("guest")
    await owner.api.expect(
        202, "POST", f"/organizations/{company['id']}/members", json={"email": guest}
    )
    token = await mail.token(guest, "invitation")
    signed_in = await anonymous.expect(
        200,
        "POST",
        "/sso/auth",
        json={**body(await provider.sign_in(guest)), "invitation_token": token},
    )
    members = (await owner.api.expect(200, "GET", f"/organizations/{company['id']}/members")).json()
    assert {m["user_id"] for m in members} == {owner.user_id, signed_in.json()["user_id"]}
    spent = await anonymous.call("POST", "/invitations/verify", json={"token": token})
    assert spent.status == 409
