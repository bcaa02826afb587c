"""The pages the emailed links open: confirm a registration, reset a password, accept an
invitation. Each shows a form that posts back here (the token never changes anything on a
GET: mail scanners follow links), so the links work with nothing but the gateway. The
website (a service of its own, later) takes these paths over.

No session or cookie is involved, so a forged form post can do nothing the token does not
already allow: there is no ambient authority for CSRF to borrow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from html import escape

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from chassis.errors import DomainError
from chassis.web.openapi import Route
from chassis.web.problems import Problem
from identity.credentials.api import Registration
from identity.credentials.domain import check_policy
from identity.credentials.service import CredentialService
from identity.invitations.service import Invitations
from identity.tokens.api import OpaqueToken

HEADERS = {
    # The token is in the address: it must not leave in a Referer, or stay in a cache.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_TOKEN: TypeAdapter[str] = TypeAdapter(OpaqueToken)


def page(title: str, body: str, status: int = 200) -> web.Response:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem}}
button{{margin-top:1rem;padding:.5rem 1rem}}</style></head>
<body><h1>{escape(title)}</h1>{body}</body></html>"""
    return web.Response(text=html, status=status, content_type="text/html", headers=HEADERS)


def form(fields: str, token: str, button: str) -> str:
    return (
        f'<form method="post">{fields}<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit">{escape(button)}</button></form>'
    )


def field(name: str, label: str, kind: str = "text", value: str = "") -> str:
    return (
        f'<label for="{name}">{escape(label)}</label>'
        f'<input id="{name}" name="{name}" type="{kind}" value="{escape(value)}" required>'
    )


def refusal(title: str, error: DomainError | Problem | ValidationError) -> web.Response:
    if isinstance(error, ValidationError):
        status, detail = 422, "; ".join(e["msg"] for e in error.errors(include_url=False))
    elif isinstance(error, Problem):
        status, detail = error.status, error.detail or error.title
    else:
        problem = Problem.of(error)
        status, detail = problem.status, problem.detail or problem.title
    return page(title, f'<p role="alert">{escape(detail)}</p>', status)


def token_of(values: Mapping[str, str]) -> str:
    """The token of the query or form, checked as the API checks it."""
    try:
        return _TOKEN.validate_python(values.get("token", ""))
    except ValidationError as exc:
        raise Problem(422, "The link is incomplete: open it from the email again.") from exc


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def posted(request: web.Request) -> dict[str, str]:
    """The form's text fields (a file sent instead is no value)."""
    if request.content_type not in FORMS:
        raise Problem(415, "Send the form as a browser does.")
    try:
        form = await request.post()
    except ValueError as exc:
        raise Problem(400, "The form could not be read.") from exc
    return {name: value for name, value in form.items() if isinstance(value, str)}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def titled(title: str, handler: Handler) -> Handler:
    """Refusals answered as a page of `title`, not as a problem document."""

    async def page_handler(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (DomainError, Problem, ValidationError) as error:
            return refusal(title, error)

    return page_handler


def routes(credentials: CredentialService, invitations: Invitations) -> list[Route]:
    confirm_title = "Confirm your email address"
    reset_title = "Choose a new password"
    invitation_title = "Join your team"

    async def confirm_form(request: web.Request) -> web.Response:
        token = token_of(request.query)
        return page(confirm_title, form("", token, "Confirm my address"))

    async def confirm(request: web.Request) -> web.Response:
        await credentials.confirm(token_of(await posted(request)))
        return page(confirm_title, "<p>Your address is confirmed. You can log in now.</p>")

    async def reset_form(request: web.Request) -> web.Response:
        token = token_of(request.query)
        email = await credentials.verify_reset(token)
        fields = field("password", f"New password for {email}", "password")
        return page(reset_title, form(fields, token, "Set my password"))

    async def reset(request: web.Request) -> web.Response:
        values = await posted(request)
        password = values.get("password", "")
        check_policy(password)
        await credentials.complete_reset(token_of(values), password)
        return page(reset_title, "<p>Your password is changed. You can log in with it now.</p>")

    async def invitation_form(request: web.Request) -> web.Response:
        token = token_of(request.query)
        view = await invitations.verify(token)
        guest = view.invitation
        fields = (
            f"<p>You are invited to join {escape(view.organization_name)}.</p>"
            + field("email", "Email", "email", guest.email)
            + field("first_name", "First name", value=guest.first_name or "")
            + field("last_name", "Last name", value=guest.last_name or "")
            + field("password", "Password", "password")
        )
        return page(invitation_title, form(fields, token, "Create my account"))

    async def accept(request: web.Request) -> web.Response:
        values = await posted(request)
        fields = ("email", "password", "first_name", "last_name")
        registration = Registration.model_validate(
            {**{name: values.get(name) for name in fields}, "invitation_token": token_of(values)}
        )
        await credentials.register(registration.new_person(), registration.invitation_token)
        return page(invitation_title, "<p>Welcome aboard. You can log in now.</p>", 201)

    def html_route(method: str, path: str, handler: Handler, summary: str, title: str) -> Route:
        return Route(
            method,
            path,
            titled(title, handler),
            summary,
            response=str,
            media_type="text/html",
            # Refusals are pages too, not problem documents.
            other_statuses=(201, 400, 404, 409, 410, 415, 422),
            public=True,
        )

    confirming, resetting, inviting = (
        "/confirm-registration",
        "/reset-password",
        "/accept-invitation",
    )
    return [
        html_route("GET", confirming, confirm_form, "The confirmation link's page", confirm_title),
        html_route("POST", confirming, confirm, "Confirm the address", confirm_title),
        html_route("GET", resetting, reset_form, "The reset link's page", reset_title),
        html_route("POST", resetting, reset, "Set the new password", reset_title),
        html_route(
            "GET", inviting, invitation_form, "The invitation link's page", invitation_title
        ),
        html_route("POST", inviting, accept, "Register with the invitation", invitation_title),
    ]
