"""The AsyncAPI document: every event and command of the contracts, and structurally sound."""

from __future__ import annotations

import importlib
import pkgutil
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import contracts
from contracts import Envelope, IntegrationEvent
from contracts.asyncapi import asyncapi_document
from contracts.bookings import BookingCancelled
from contracts.cars import CarRegistered, ReleaseCar, ReservationReply, ReserveCar
from contracts.commands import Command

DOCUMENT = asyncapi_document()
COMPONENT_KEY = re.compile(r"^[\w.\-]+$")


def _all_subclasses(base: type, naming: str) -> set[type]:
    """Found by walking the class tree, independently of how the document finds them: the
    classes of `contracts` that set `naming` themselves (abstract bases do not)."""
    for info in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"contracts.{info.name}")
    found, pending = set(), [base]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("contracts.") and naming in vars(sub):
                found.add(sub)
    return found


def _resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = DOCUMENT
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _payload_validator(message: str) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource("urn:asyncapi", Resource(DOCUMENT, DRAFT202012))
    schema = {"$ref": f"urn:asyncapi#/components/messages/{message}/payload"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_document_is_structurally_asyncapi_3() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    for ref in _refs(DOCUMENT):
        _resolve(ref)
    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(key) for key in DOCUMENT["components"][section])
    for name, channel in DOCUMENT["channels"].items():
        assert channel["messages"], name
        assert "address" in channel
    for name, operation in DOCUMENT["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        # AsyncAPI 3: an operation's messages are messages of its channel.
        channel = operation["channel"]["$ref"]
        assert all(m["$ref"].startswith(f"{channel}/messages/") for m in operation["messages"])
        if "reply" in operation:
            reply = operation["reply"]
            assert reply["address"]["location"].startswith("$message.")
            replies = reply["messages"]
            assert all(
                m["$ref"].startswith(f"{reply['channel']['$ref']}/messages/") for m in replies
            )
    for message in DOCUMENT["components"]["messages"].values():
        jsonschema.Draft202012Validator.check_schema(message["payload"])


def test_every_integration_event_is_a_channel_on_the_topic_exchange() -> None:
    events = _all_subclasses(IntegrationEvent, "event_type")
    assert {CarRegistered, BookingCancelled} <= events
    for event in events:
        channel = DOCUMENT["channels"][event.event_type]
        assert channel["address"] == event.event_type
        amqp = channel["bindings"]["amqp"]
        assert amqp["is"] == "routingKey"
        assert amqp["exchange"]["name"] == "domain_events"
        assert amqp["exchange"]["type"] == "topic"
        assert DOCUMENT["operations"][event.event_type]["action"] == "send"
        message = DOCUMENT["components"]["messages"][event.event_type]
        assert message["name"] == event.__name__


def test_every_command_is_a_queue_answered_with_its_reply() -> None:
    commands = _all_subclasses(Command, "queue")
    assert commands == {ReserveCar, ReleaseCar}
    for command in commands:
        assert DOCUMENT["channels"][command.queue]["bindings"]["amqp"]["is"] == "queue"
        operation = DOCUMENT["operations"][command.queue]
        assert operation["action"] == "receive"
        messages = DOCUMENT["components"]["messages"]
        assert messages[command.queue]["name"] == command.__name__
        assert messages[f"{command.queue}.reply"]["name"] == command.reply.__name__
        reply_channel = _resolve(operation["reply"]["channel"]["$ref"])
        assert reply_channel["address"] is None
        # Every command tells its receiver when its sender stops waiting.
        deadline = DOCUMENT["components"]["schemas"][command.__name__]["properties"]["deadline"]
        assert "date-time" in str(deadline) and deadline["description"]


def test_a_real_envelope_matches_its_documented_payload() -> None:
    event = CarRegistered(
        car_id="c1", make="VW", model="Golf", year=2020, jurisdiction="NZ", number_plate="A1"
    )
    envelope = Envelope.wrap(event, tenant_id="t1", actor_id="u1", correlation_id="corr")
    body = envelope.model_dump(mode="json")
    validator = _payload_validator(CarRegistered.event_type)
    validator.validate(body)
    assert not validator.is_valid({**body, "data": {**body["data"], "year": "new"}})
    assert not validator.is_valid({**body, "type": "cars.car_deleted"})
    assert not _payload_validator("cars.car_deleted").is_valid(body)
    # A tenant's event names its tenant, as the document tells an outside producer.
    assert not validator.is_valid({**body, "tenant_id": None})
    assert not validator.is_valid({k: v for k, v in body.items() if k != "tenant_id"})


def test_a_real_command_and_reply_match_their_documented_payloads() -> None:
    start = datetime.now(UTC)
    command = ReserveCar(
        tenant_id="t1",
        car_id="c1",
        booking_id=str(uuid.uuid4()),
        from_utc=start,
        to_utc=start + timedelta(hours=1),
        deadline=start + timedelta(seconds=5),
    )
    _payload_validator(ReserveCar.queue).validate(command.model_dump(mode="json"))
    reply = ReservationReply(outcome="reserved")
    _payload_validator(f"{ReserveCar.queue}.reply").validate(reply.model_dump(mode="json"))
    assert not _payload_validator(f"{ReserveCar.queue}.reply").is_valid({"outcome": "maybe"})


@pytest.mark.parametrize("exchange", ["domain_events", "other_events"])
def test_the_exchange_is_named_as_configured(exchange: str) -> None:
    document = asyncapi_document(exchange)
    bindings = [c["bindings"]["amqp"] for c in document["channels"].values() if "bindings" in c]
    names = {b["exchange"]["name"] for b in bindings if b["is"] == "routingKey"}
    assert names == {exchange}
