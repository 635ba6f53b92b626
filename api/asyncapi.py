"""The AsyncAPI 3 document of the ledger's Kafka topics, served at `/asyncapi.json`.

The event topic carries one message per public type of `ledger.records.EVENT_TYPES`, each
with a JSON Schema of the whole CloudEvents record; the schema of `data` comes from the
event class's fields (those without a default are required, nothing else is allowed), so
it follows the code. The checkpoint topic carries the signed checkpoints as text.
tests/e2e/test_proofs.py validates real records of the topic against these schemas.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
import uuid
from typing import Any

from eventsourcing.utils import resolve_topic

from ledger.records import CONTENT_TYPE, EVENT_TYPES, NOT_DATA
from ledger.settings import Settings

KAFKA_BINDING = "0.5.0"
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
KEY = {"type": "string", "pattern": "^[0-9]{6}$", "description": "the territory's ISTAT code"}


def _schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [_schema(a) for a in typing.get_args(annotation)]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if annotation is type(None):
        return {"type": "null"}
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    simple: dict[Any, dict[str, Any]] = {
        str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
        uuid.UUID: {"type": "string", "format": "uuid"},
        datetime.date: {"type": "string", "format": "date"},
        datetime.datetime: {"type": "string", "format": "date-time"}}
    return simple.get(annotation, {})


def data_schema(event_class: type) -> dict[str, Any]:
    hints = typing.get_type_hints(event_class)
    fields = [f for f in dataclasses.fields(event_class) if f.name not in NOT_DATA]
    properties = {f.name: _schema(hints[f.name]) for f in fields}
    properties["version"] = {"type": "integer", "minimum": 1,
                             "description": "the aggregate's version after this event"}
    properties["class_version"] = {"type": "integer", "minimum": 2}
    required = sorted(f.name for f in fields if f.default is dataclasses.MISSING
                      and f.default_factory is dataclasses.MISSING) + ["version"]
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def record_schema(public_type: str, event_class: type) -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "description": "A CloudEvents 1.0 structured-mode record in its territory's hash chain; "
                       "`hash` = SHA-256 of the JCS of the record without `hash`.",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype",
                     "position", "seq", "prevhash", "hash", "data"],
        "additionalProperties": False,
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "pattern": "^/territories/[0-9]{6}$"},
            "type": {"const": public_type},
            "subject": {"type": "string", "description": "the aggregate's id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "position": {"type": "integer", "minimum": 1},
            "seq": {"type": "integer", "minimum": 1},
            "prevhash": HASH,
            "hash": HASH,
            "data": data_schema(event_class),
        },
    }


def message_schemas() -> dict[str, dict[str, Any]]:
    """Public type -> JSON Schema of its records."""
    return {f"{name}.v{version}": record_schema(f"{name}.v{version}", resolve_topic(topic))
            for topic, (name, version) in EVENT_TYPES.items()}


def _message_id(public_type: str) -> str:
    return public_type.removeprefix("it.ledger.")


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    schemas = message_schemas()
    messages: dict[str, Any] = {
        _message_id(t): {
            "name": t, "title": t, "contentType": CONTENT_TYPE,
            "headers": {"type": "object", "properties": {"content-type": {"const": CONTENT_TYPE}}},
            "payload": schema,
            "bindings": {"kafka": {"key": KEY, "bindingVersion": KAFKA_BINDING}},
        } for t, schema in schemas.items()}
    messages["checkpoint"] = {
        "name": "checkpoint", "title": "Signed checkpoint", "contentType": "text/plain",
        "summary": "A C2SP tlog-checkpoint v1.0.0 signed note (Ed25519) of the territory's "
                   "RFC 9162 Merkle tree over its records in seq order",
        "payload": {"type": "string"},
        "bindings": {"kafka": {"key": KEY, "bindingVersion": KAFKA_BINDING}},
    }
    event_refs = {m: {"$ref": f"#/components/messages/{m}"} for m in messages if m != "checkpoint"}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Generative welfare contribution ledger: Kafka topics", "version": "1",
                 "description": "Every stored event, once, as a CloudEvents record keyed by "
                                "territory; and every signed checkpoint of each territory's "
                                "Merkle tree. Read with isolation_level=read_committed."},
        "defaultContentType": CONTENT_TYPE,
        "channels": {
            "events": {
                "address": settings.topic, "messages": event_refs,
                "description": "Each territory's records in seq order (one partition per "
                               "territory); retention unlimited, no compaction.",
                "bindings": {"kafka": {"topic": settings.topic,
                                       "partitions": settings.topic_partitions,
                                       "topicConfiguration": {"cleanup.policy": ["delete"],
                                                              "retention.ms": -1},
                                       "bindingVersion": KAFKA_BINDING}}},
            "checkpoints": {
                "address": settings.checkpoint_topic_name,
                "messages": {"checkpoint": {"$ref": "#/components/messages/checkpoint"}},
                "description": "Every checkpoint the log signs, so that a witness sees each one.",
                "bindings": {"kafka": {"topic": settings.checkpoint_topic_name, "partitions": 1,
                                       "bindingVersion": KAFKA_BINDING}}},
        },
        "operations": {
            "publishEvents": {"action": "send", "channel": {"$ref": "#/channels/events"},
                              "messages": [{"$ref": f"#/channels/events/messages/{m}"}
                                           for m in event_refs]},
            "publishCheckpoints": {"action": "send", "channel": {"$ref": "#/channels/checkpoints"},
                                   "messages": [{"$ref": "#/channels/checkpoints/messages/"
                                                         "checkpoint"}]},
        },
        "components": {"messages": messages},
    }
