"""The AsyncAPI 3.0 document of the published language, generated from the contract models."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import contracts
from contracts.commands import Command
from contracts.envelope import Envelope, IntegrationEvent, TenantEvent

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMA_REF = "#/components/schemas/{model}"

T = TypeVar("T", bound=BaseModel)


def _defined_in_contracts(base: type[T], naming: str) -> list[type[T]]:
    """Every subclass of `base` defined in a `contracts` module that sets the class variable
    `naming` (bases such as TenantEvent do not), importing the modules first."""
    found: list[type[T]] = []
    for info in pkgutil.iter_modules(contracts.__path__):
        module = importlib.import_module(f"{contracts.__name__}.{info.name}")
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, base) and cls.__module__ == module.__name__ and hasattr(cls, naming)
        ]
    return found


def published_events() -> list[type[IntegrationEvent]]:
    events = sorted(
        _defined_in_contracts(IntegrationEvent, "event_type"), key=lambda event: event.event_type
    )
    routing_keys = [event.event_type for event in events]
    if len(set(routing_keys)) != len(routing_keys):
        raise ValueError(f"two events share a routing key: {routing_keys}")
    return events


def commands() -> list[type[Command[Any]]]:
    found: list[type[Command[Any]]] = _defined_in_contracts(Command, "queue")
    return sorted(found, key=lambda command: command.queue)


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _channel(address: str | None, message: str, amqp: dict[str, Any] | None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address,
        "messages": {message: _ref("components", "messages", message)},
    }
    if amqp is not None:
        channel["bindings"] = {"amqp": {**amqp, "bindingVersion": AMQP_BINDING_VERSION}}
    return channel


def _message(name: str, payload: dict[str, Any], correlation: str) -> dict[str, Any]:
    return {
        "name": name,
        "contentType": "application/json",
        "correlationId": {"location": correlation},
        "payload": payload,
    }


def _event_message(
    event: type[IntegrationEvent], envelope: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The envelope, pinned to this event's routing key and version, with it as `data`;
    a tenant's event must name its tenant."""
    pinned: dict[str, Any] = {
        "type": "object",
        "properties": {
            "type": {"const": event.event_type},
            "version": {"const": event.version},
            "data": data,
        },
    }
    if issubclass(event, TenantEvent):
        pinned["properties"]["tenant_id"] = {"type": "string", "minLength": 1}
        pinned["required"] = ["tenant_id"]
    message = _message(
        event.__name__, {"allOf": [envelope, pinned]}, "$message.payload#/correlation_id"
    )
    message["bindings"] = {
        "amqp": {
            "messageType": event.event_type,
            "deliveryMode": 2,
            "bindingVersion": AMQP_BINDING_VERSION,
        }
    }
    return message


def asyncapi_document(exchange: str = "domain_events") -> dict[str, Any]:
    """Every event and command defined in `contracts`.

    An event is a channel named after its routing key on the topic `exchange`, its payload
    the envelope with the event as `data`. A command is a channel named after its queue,
    answered on a channel for whichever queue the sender named in reply_to.
    """
    events, sent = published_events(), commands()
    replies = list(dict.fromkeys(command.reply for command in sent))
    models: list[type[BaseModel]] = [Envelope, *events, *sent, *replies]
    described, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=SCHEMA_REF
    )
    schema = {model: described[(model, "validation")] for model in models}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    exchange_binding = {"name": exchange, "type": "topic", "durable": True, "autoDelete": False}
    for event in events:
        key = event.event_type
        messages[key] = _event_message(event, schema[Envelope], schema[event])
        channels[key] = _channel(key, key, {"is": "routingKey", "exchange": exchange_binding})
        operations[key] = {
            "action": "send",
            "summary": f"Published by {key.split('.', 1)[0]} through its outbox",
            "channel": _ref("channels", key),
            "messages": [_ref("channels", key, "messages", key)],
        }

    for command in sent:
        queue, reply = command.queue, f"{command.queue}.reply"
        for key, model in ((queue, command), (reply, command.reply)):
            messages[key] = _message(
                model.__name__, schema[model], "$message.header#/correlation_id"
            )
        queue_binding = {"name": queue, "durable": True, "exclusive": False, "autoDelete": False}
        channels[queue] = _channel(queue, queue, {"is": "queue", "queue": queue_binding})
        channels[reply] = _channel(None, reply, None)
        operations[queue] = {
            "action": "receive",
            "summary": f"Answered by {queue.split('.', 1)[0]}",
            "channel": _ref("channels", queue),
            "messages": [_ref("channels", queue, "messages", queue)],
            "reply": {
                "address": {"location": "$message.header#/reply_to"},
                "channel": _ref("channels", reply),
                "messages": [_ref("channels", reply, "messages", reply)],
            },
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Platform messaging",
            "version": "1",
            "description": (
                f"Domain events on the durable topic exchange `{exchange}`, routing key "
                "`<service>.<event>`; each consumer has its own queue per handler. Commands "
                "go to their own queue and are answered on the sender's reply-to queue."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": definitions.get("$defs", {}), "messages": messages},
    }
