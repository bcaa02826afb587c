"""`GET /docs`: an OpenAPI document as one server-rendered page, without scripts."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from chassis.web.openapi import SCHEMAS

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; }
section.operation { border-top: 1px solid #ccc; padding: .4rem 0; }
.method { display: inline-block; min-width: 4.5rem; font-weight: bold; text-transform: uppercase; }
pre { background: #f5f5f5; padding: .5rem; overflow-x: auto; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .15rem .8rem .15rem 0; }
"""

# A reference, as it reads once the schema is JSON and escaped.
_ESCAPED_REF = re.compile(r"&quot;" + re.escape(SCHEMAS) + r"([\w.\-]+)&quot;")


def _schema(schema: Any, indent: int | None = None) -> str:
    """A schema as JSON, each reference a link to the schema it names."""
    text = escape(json.dumps(schema, indent=indent))
    return _ESCAPED_REF.sub(r'<a href="#schema-\1">\1</a>', text)


def _parameters(parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'required' if p.get('required') else 'optional'}</td>"
        f"<td><code>{_schema(p.get('schema', {}))}</code></td></tr>"
        for p in parameters
    )
    return f"<table><tr><th>parameter</th><th>in</th><th></th><th>schema</th></tr>{rows}</table>"


def _content(content: dict[str, Any]) -> str:
    return " ".join(
        f"{escape(media_type)} <code>{_schema(item.get('schema', {}))}</code>"
        for media_type, item in content.items()
    )


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    access = "bearer token" if operation.get("security") else "public"
    body = operation.get("requestBody", {}).get("content", {})
    responses = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(response.get('description', ''))}</td>"
        f"<td>{_content(response.get('content', {}))}</td></tr>"
        for status, response in operation.get("responses", {}).items()
    )
    return (
        f'<section class="operation" id="{escape(operation.get("operationId", ""))}">'
        f'<h3><span class="method">{escape(method)}</span> <code>{escape(path)}</code></h3>'
        f"<p>{escape(operation.get('summary', ''))} <em>({access})</em></p>"
        f"{_parameters(operation.get('parameters', []))}"
        + (f"<p>Body: {_content(body)}</p>" if body else "")
        + f"<table>{responses}</table></section>"
    )


def render_docs(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(path, method, item[method]))
    operations = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(sections)}" for tag, sections in by_tag.items()
    )
    schemas = "".join(
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><pre>{_schema(schema, 2)}</pre>'
        for name, schema in document.get("components", {}).get("schemas", {}).items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        '<p>As documents: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1) and '
        '<a href="/asyncapi.json">/asyncapi.json</a> (AsyncAPI 3.0: events and commands).</p>'
        f"{operations}<h2>Schemas</h2>{schemas}</body></html>"
    )
