"""Emails rendered from the templates kept in this package: per message kind, a subject
(`<kind>.subject.txt`), a text part (`<kind>.txt`) and an HTML part (`<kind>.html`, escaped).

Links are made here from the website's address and the message's token: a producer never
sends a URL, so no event can point a recipient anywhere but our website.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contracts.emails import (
    EmailMessage,
    Invitation,
    ListCompleted,
    ListFailed,
    PasswordReset,
    RegistrationConfirmation,
)
from emails.domain import Content


class Templates:
    def __init__(self, website_url: str) -> None:
        self._site = website_url.rstrip("/")
        self._env = Environment(
            loader=PackageLoader("emails", "templates"),
            # Only the HTML part is escaped: the text part shows what was sent as it was.
            autoescape=select_autoescape(["html"], default_for_string=False, default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, message: EmailMessage) -> Content:
        values: dict[str, Any] = message.model_dump()
        values["link"] = self.link(message)
        kind = message.template
        subject = self._env.get_template(f"{kind}.subject.txt").render(values)
        return Content(
            # One line: a header cannot hold a line break (nor be made to add a header).
            subject=" ".join(subject.split()),
            text=self._env.get_template(f"{kind}.txt").render(values),
            html=self._env.get_template(f"{kind}.html").render(values),
        )

    def link(self, message: EmailMessage) -> str | None:
        """Where the email sends its recipient on our website, if anywhere."""
        match message:
            case RegistrationConfirmation(token=token):
                return self._page("/confirm-registration", token=token)
            case Invitation(token=token):
                return self._page("/accept-invitation", token=token)
            case PasswordReset(token=token):
                return self._page("/reset-password", token=token)
            case ListCompleted(list_id=list_id) | ListFailed(list_id=list_id):
                return self._page(f"/lists/{quote(list_id, safe='')}")
            case _:
                return None

    def _page(self, path: str, **query: str) -> str:
        return f"{self._site}{path}" + (f"?{urlencode(query)}" if query else "")
