"""A service built from the chassis parts, served over HTTP: health, documents, and ids
from the request to the consumer."""

from __future__ import annotations

import aiohttp
import structlog
from aiohttp import web

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids
from chassis.storage.outbox import OUTBOX, SENT
from chassis.web.openapi import Route
from contracts import Envelope


async def test_health_reports_mongo_and_broker(make_node, serve):
    node = make_node("health")
    url = await serve(node.web_app([]))
    async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
        assert response.status == 200
        assert await response.json() == {
            "service": node.settings.service_name,
            "status": "ok",
            "checks": {"mongo": "ok", "broker": "ok"},
        }


async def test_health_is_503_naming_the_broker_when_it_is_unreachable(
    make_node, serve, tcp_proxy, test_infra, eventually
):
    node = make_node("health", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    url = await serve(node.web_app([]))
    async with aiohttp.ClientSession() as http:

        async def health():
            async with http.get(f"{url}/health") as response:
                return response.status, await response.json()

        await tcp_proxy.stop()  # noticed as soon as the client reads the closed socket
        status, body = await eventually(lambda: _when(health(), lambda r: r[0] != 200))
        assert status == 503, body
        assert body["status"] == "down"
        assert body["checks"]["mongo"] == "ok"
        assert body["checks"]["broker"].startswith("down")

        await tcp_proxy.start()
        status, body = await eventually(lambda: _when(health(), lambda r: r[0] == 200), 10)
        assert body["checks"] == {"mongo": "ok", "broker": "ok"}


async def _when(result, condition):
    """`result` awaited if `condition` holds for it, else None (for `eventually`)."""
    value = await result
    return value if condition(value) else None


async def test_ids_flow_from_the_request_to_the_consumer(
    make_node, make_event, serve, amqp, eventually
):
    happened = make_event()
    reacted = make_event()
    node = make_node("flow")
    probe = await amqp.bind(happened.event_type)
    reaction_probe = await amqp.bind(reacted.event_type)
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        async def work(tx):
            await tx.collection("things").insert_one({"n": 1})
            tx.publish(happened(n=1))

        await node.uow.run(work, tenant_id="tenant-a", actor_id="user-a")
        return web.json_response({}, status=202)

    async def consume(tx, event, context) -> None:
        request_id, correlation_id = current_ids()
        causation = structlog.contextvars.get_contextvars().get("causation_id")
        seen.append(
            {"context": context, "ids": (request_id, correlation_id), "causation": causation}
        )
        tx.publish(reacted(n=event.n + 1))

    node.subscriptions.on_event(happened, consume, name="record")
    url = await serve(node.web_app([Route("POST", "/things", record, "Record", public=True)]))

    headers = {REQUEST_ID_HEADER: "req-e2e", CORRELATION_ID_HEADER: "corr-e2e"}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/things", headers=headers) as r:
        assert r.status == 202
        assert r.headers[REQUEST_ID_HEADER] == "req-e2e"
        assert r.headers[CORRELATION_ID_HEADER] == "corr-e2e"

    # On the wire: the AMQP message carries the ids; the envelope names tenant and actor.
    [message] = await amqp.take(probe, 1)
    envelope = Envelope.model_validate_json(message.body)
    assert message.message_id == str(envelope.id)
    assert message.correlation_id == "corr-e2e"
    assert message.headers[CORRELATION_ID_HEADER] == "corr-e2e"
    assert message.headers[REQUEST_ID_HEADER] == "req-e2e"
    assert envelope.correlation_id == "corr-e2e"
    assert envelope.causation_id == "req-e2e"
    assert (envelope.tenant_id, envelope.actor_id) == ("tenant-a", "user-a")

    # In the consumer: the context and the bound ids.
    await eventually(lambda: seen)
    [consumed] = seen
    context = consumed["context"]
    assert context.event_id == str(envelope.id)
    assert context.correlation_id == "corr-e2e"
    assert (context.tenant_id, context.actor_id) == ("tenant-a", "user-a")
    assert consumed["ids"] == ("req-e2e", "corr-e2e")
    assert consumed["causation"] == str(envelope.id)

    # An event raised while handling keeps the correlation, the tenant and actor, and names
    # its cause.
    [message] = await amqp.take(reaction_probe, 1)
    reaction = Envelope.model_validate_json(message.body)
    assert reaction.correlation_id == "corr-e2e"
    assert reaction.causation_id == str(envelope.id)
    assert (reaction.tenant_id, reaction.actor_id) == ("tenant-a", "user-a")
    assert reaction.payload(reacted).n == 2
    assert message.headers[CORRELATION_ID_HEADER] == "corr-e2e"

    async def all_sent():
        return await node.mongo.raw(OUTBOX).count_documents({"status": SENT}) == 2

    await eventually(all_sent)


async def test_openapi_document_is_public_and_describes_every_route(make_node, serve):
    async def thing(_: web.Request) -> web.Response:
        return web.json_response({})

    node = make_node("docs")
    app = node.web_app([Route("GET", "/things", thing, "Things")])
    url = await serve(app)
    async with aiohttp.ClientSession() as http, http.get(f"{url}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert (
        served == documented == {("GET", "/things"), ("GET", "/health"), ("GET", "/openapi.json")}
    )
    assert document["info"]["title"] == node.settings.service_name
