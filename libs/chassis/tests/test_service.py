"""The Chassis wired from settings, served over HTTP: health, and ids from request to consumer."""

from __future__ import annotations

import aiohttp
import structlog
from aiohttp import web

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids
from chassis.openapi import Route
from chassis.outbox import OUTBOX, SENT
from contracts import Envelope


async def test_health_reports_mongo_and_broker(make_chassis, serve):
    chassis = make_chassis("health")
    url = await serve(chassis.web_app([]))
    async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
        assert response.status == 200
        assert await response.json() == {
            "service": chassis.settings.service_name,
            "status": "ok",
            "checks": {"mongo": "ok", "broker": "ok"},
        }


async def test_health_is_503_naming_the_broker_when_it_is_unreachable(
    make_chassis, serve, tcp_proxy, test_infra, eventually
):
    chassis = make_chassis("health", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    url = await serve(chassis.web_app([]))
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
    make_chassis, make_event, serve, amqp, eventually
):
    happened = make_event()
    reacted = make_event()
    chassis = make_chassis("flow")
    probe = await amqp.bind(happened.event_type)
    reaction_probe = await amqp.bind(reacted.event_type)
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        async def work(tx):
            await chassis.mongo.collection("things").insert_one({"n": 1}, session=tx.session)
            return tx.publish(happened(n=1), tenant_id="tenant-a", actor_id="user-a")

        envelope = await chassis.uow.run(work)
        return web.json_response({"event_id": str(envelope.id)}, status=202)

    async def consume(tx, event, envelope: Envelope) -> None:
        request_id, correlation_id = current_ids()
        causation = structlog.contextvars.get_contextvars().get("causation_id")
        seen.append(
            {"envelope": envelope, "ids": (request_id, correlation_id), "causation": causation}
        )
        tx.publish(reacted(n=event.n + 1), tenant_id=envelope.tenant_id, actor_id=None)

    chassis.subscriptions.on_event("record", happened, consume)
    url = await serve(chassis.web_app([Route("POST", "/things", record, "Record", public=True)]))

    headers = {REQUEST_ID_HEADER: "req-e2e", CORRELATION_ID_HEADER: "corr-e2e"}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/things", headers=headers) as r:
        assert r.status == 202
        assert r.headers[REQUEST_ID_HEADER] == "req-e2e"
        assert r.headers[CORRELATION_ID_HEADER] == "corr-e2e"
        event_id = (await r.json())["event_id"]

    # On the wire: the AMQP message carries the ids.
    [message] = await amqp.take(probe, 1)
    assert message.message_id == event_id
    assert message.correlation_id == "corr-e2e"
    assert message.headers[CORRELATION_ID_HEADER] == "corr-e2e"
    assert message.headers[REQUEST_ID_HEADER] == "req-e2e"

    # In the consumer: the envelope and the bound ids.
    await eventually(lambda: seen)
    [consumed] = seen
    envelope = consumed["envelope"]
    assert str(envelope.id) == event_id
    assert envelope.correlation_id == "corr-e2e"
    assert envelope.causation_id == "req-e2e"
    assert (envelope.tenant_id, envelope.actor_id) == ("tenant-a", "user-a")
    assert consumed["ids"] == ("req-e2e", "corr-e2e")
    assert consumed["causation"] == event_id

    # An event raised while handling keeps the correlation and names its cause.
    [message] = await amqp.take(reaction_probe, 1)
    reaction = Envelope.model_validate_json(message.body)
    assert reaction.correlation_id == "corr-e2e"
    assert reaction.causation_id == event_id
    assert reaction.payload(reacted).n == 2
    assert message.headers[CORRELATION_ID_HEADER] == "corr-e2e"

    async def all_sent():
        return await chassis.mongo.collection(OUTBOX).count_documents({"status": SENT}) == 2

    await eventually(all_sent)


async def test_openapi_document_is_public_and_describes_every_route(make_chassis, serve):
    async def thing(_: web.Request) -> web.Response:
        return web.json_response({})

    chassis = make_chassis("docs")
    app = chassis.web_app([Route("GET", "/things", thing, "Things")])
    url = await serve(app)
    async with aiohttp.ClientSession() as http, http.get(f"{url}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert (
        served == documented == {("GET", "/things"), ("GET", "/health"), ("GET", "/openapi.json")}
    )
    assert document["info"]["title"] == chassis.settings.service_name
