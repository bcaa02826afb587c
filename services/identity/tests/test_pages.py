"""The pages the emailed links open, as a browser uses them: a GET shows a form and changes
nothing, its post does what the API would."""

from __future__ import annotations

from testkit.api import PlatformClient
from testkit.identity import PASSWORD, Mailbag, People, new_email


async def post_form(anonymous: PlatformClient, path: str, **fields: str) -> tuple[int, str]:
    async with anonymous.http.post(anonymous.base_url + path, data=fields) as response:
        return response.status, await response.text()


async def test_the_confirmation_link(people: People, mail: Mailbag) -> None:
    email = new_email()
    await people.register(email)
    token = await mail.token(email, "registration_confirmation")
    shown = await people.anonymous.expect(
        200, "GET", "/confirm-registration", params={"token": token}
    )
    assert shown.content_type == "text/html" and token.encode() in shown.body
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert (await people.login(email)).status == 403, "opening the link confirms nothing"

    status, text = await post_form(people.anonymous, "/confirm-registration", token=token)
    assert status == 200 and "confirmed" in text
    assert (await people.login(email)).status == 200
    status, text = await post_form(people.anonymous, "/confirm-registration", token=token)
    assert status == 422 and 'role="alert"' in text


async def test_the_reset_link(people: People, mail: Mailbag) -> None:
    person = await people.person()
    await people.anonymous.expect(202, "POST", "/credentials/reset", json={"email": person.email})
    token = await mail.token(person.email, "password_reset")
    shown = await people.anonymous.expect(200, "GET", "/reset-password", params={"token": token})
    assert person.email.encode() in shown.body
    status, _ = await post_form(people.anonymous, "/reset-password", token=token, password="weak")
    assert status == 422
    status, _ = await post_form(
        people.anonymous, "/reset-password", token=token, password="Brand-new-pass-4"
    )
    assert status == 200
    assert (await people.login(person.email, "Brand-new-pass-4")).status == 200


async def test_the_invitation_link(people: People, mail: Mailbag) -> None:
    owner = await people.person()
    company = (await owner.api.expect(201, "POST", "/organizations", json={"name": "Co"})).json()
    guest = new_email("guest")
    invite = {"email": guest}
    members = f"/organizations/{company['id']}/members"
    await owner.api.expect(202, "POST", members, json=invite)
    token = await mail.token(guest, "invitation")
    shown = await people.anonymous.expect(200, "GET", "/accept-invitation", params={"token": token})
    assert guest.encode() in shown.body and b"Co" in shown.body
    status, _ = await post_form(
        people.anonymous,
        "/accept-invitation",
        token=token,
        email=guest,
        first_name="Kim",
        last_name="Lee",
        password=PASSWORD,
    )
    assert status == 201
    assert (await people.login(guest)).status == 200, "the invited address is confirmed at once"
    incomplete = await people.anonymous.call("GET", "/accept-invitation", params={"token": "x"})
    assert incomplete.status == 422 and incomplete.content_type == "text/html"
