"""Single sign-on through the gateway against the OpenID Connect simulator, run as its own
process as `make run` runs it: the first sign-in registers the person, the next signs in the
same user, and a guest signing in with their invitation's token joins the inviting
organization."""

from __future__ import annotations

from typing import Any

from testkit.api import PlatformClient
from testkit.identity import People, Person, new_email
from testkit.oidc import OidcSimulator, SignIn

PROVIDER = "local"  # the name devstack's table of simulators gives the simulator


def signed_in(sign_in: SignIn, **more: str) -> dict[str, Any]:
    """The body of `POST /sso/auth` for what the provider sent the person back with."""
    return {
        "provider": PROVIDER,
        "auth_code": sign_in.code,
        "code_verifier": sign_in.code_verifier,
        "redirect_uri": sign_in.redirect_uri,
        **more,
    }


async def test_the_first_sign_in_registers_the_person_and_the_next_finds_them(
    oidc: OidcSimulator, anonymous: PlatformClient
) -> None:
    providers = await anonymous.expect(200, "GET", "/sso/providers")
    assert providers.json() == {"providers": [PROVIDER]}
    email = new_email("sso")
    sign_in = await oidc.sign_in(email, given_name="Grace", family_name="Hopper")
    first = (await anonymous.expect(200, "POST", "/sso/auth", json=signed_in(sign_in))).json()
    api = anonymous.as_caller(first["access_token"])
    me = (await api.expect(200, "GET", "/users/me")).json()
    assert (me["email"], me["first_name"], me["last_name"], me["kind"]) == (
        email,
        "Grace",
        "Hopper",
        "person",
    )
    assert me["memberships"] == [
        {
            "organization_id": me["default_organization_id"],
            "roles": ["billing_admin", "member", "owner"],
        }
    ]
    # Another service trusts the token, as any login's.
    assert await api.cars() == []

    again = await anonymous.expect(
        200, "POST", "/sso/auth", json=signed_in(await oidc.sign_in(email))
    )
    assert again.json()["user_id"] == me["id"]
    # A code is good once.
    (await anonymous.call("POST", "/sso/auth", json=signed_in(sign_in))).problem(401)


async def test_a_guest_signing_in_with_their_invitation_joins_the_organization(
    oidc: OidcSimulator, people: People, person: Person, anonymous: PlatformClient
) -> None:
    [owner] = await people.organization(person, name="Single sign-on")
    organization = owner.organization_id
    guest = new_email("guest")
    members = f"/organizations/{organization}/members"
    await owner.api.expect(202, "POST", members, json={"email": guest})
    token = await people.token(guest, "invitation", 1)

    body = signed_in(await oidc.sign_in(guest), invitation_token=token)
    tokens = (await anonymous.expect(200, "POST", "/sso/auth", json=body)).json()
    roles = {m["user_id"]: m["roles"] for m in (await owner.api.expect(200, "GET", members)).json()}
    assert roles[tokens["user_id"]] == ["member"]
    me = (await anonymous.as_caller(tokens["access_token"]).expect(200, "GET", "/users/me")).json()
    assert me["email"] == guest and organization in {
        m["organization_id"] for m in me["memberships"]
    }
