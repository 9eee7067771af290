#!/usr/bin/env python3
"""Schema registry interop peer for deimos-rs (tests/tests/interop_python_registry.rs).

Uses confluent-kafka's own Schema Registry serdes -- SchemaRegistryClient, AvroSerializer,
AvroDeserializer (with fastavro) -- against the registry URL given, which is deimos' in-process
registry. No Kafka broker: message bytes travel as hex in JSON lines.

    registry_interop.py decode --registry URL --topic T
        stdin:  {"key": hex, "value": hex} per line (Confluent-framed bytes from deimos)
        stdout: {"key": {...}, "value": {...}, "key_schema_id": n, "value_schema_id": n}

    registry_interop.py encode --registry URL --topic T --schema-dir D --count N --run-id R
        stdout: {"key": hex, "value": hex, "record": {...}} per widget; the serializers
        register com.example.Widget_key / com.example.Widget under <topic>-key / <topic>-value

timestamp-millis fields are epoch milliseconds (ints) in the JSON. Exit status 1 on any error.
"""

import argparse
import datetime
import json
import os
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MS = datetime.timedelta(milliseconds=1)


def fail(message):
    print(f"registry_interop.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def jsonable(value):
    """fastavro's Python values to JSON: datetimes become epoch millis, bytes hex."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - EPOCH) // ONE_MS
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def schema_id(data):
    if len(data) < 5 or data[0] != 0:
        fail(f"not Confluent-framed: {data[:8].hex()}")
    return int.from_bytes(data[1:5], "big")


def decode(args):
    client = SchemaRegistryClient({"url": args.registry})
    # No reader schema: the writer's schema is fetched by the id in each message.
    deserializer = AvroDeserializer(client)
    for n, line in enumerate(sys.stdin):
        if not line.strip():
            continue
        message = json.loads(line)
        out = {}
        for part, field in (("key", MessageField.KEY), ("value", MessageField.VALUE)):
            data = bytes.fromhex(message[part])
            try:
                decoded = deserializer(data, SerializationContext(args.topic, field))
            except Exception as e:  # noqa: BLE001 - report any failure with the message number
                fail(f"message {n}: cannot decode the {part} ({data.hex()}): {e!r}")
            out[part] = jsonable(decoded)
            out[f"{part}_schema_id"] = schema_id(data)
        print(json.dumps(out, ensure_ascii=False, sort_keys=True), flush=True)


def widgets(run_id, count):
    names = ["gear", "Zahnrad \u2699", "", "b\u00e9zier \"quoted\" \\ slash", "\U0001f527 wrench"]
    prices = [9.5, 0.1, 1234567.891, 0.0, -3.25, 1e-9, 2.5e15]
    tag_sets = [[], ["red"], ["red", "blue"], ["\u00fcml\u00e4ut", "", "x" * 300]]
    descriptions = [None, "a fine widget", "", "line one\nline two", "\u65e5\u672c\u8a9e"]
    stamps = [1_700_000_000_123, 0, 1, -86_400_000 + 7, 4_102_444_800_000]
    return [
        {
            "id": run_id * 1000 + i,
            "name": names[i % len(names)],
            "price": prices[i % len(prices)],
            "tags": tag_sets[i % len(tag_sets)],
            "description": descriptions[i % len(descriptions)],
            # A datetime, so fastavro's timestamp-millis conversion is exercised.
            "updated_at": EPOCH + datetime.timedelta(milliseconds=stamps[i % len(stamps)] + i),
        }
        for i in range(count)
    ]


def encode(args):
    client = SchemaRegistryClient({"url": args.registry})

    def schema_text(name):
        path = os.path.join(args.schema_dir, "com", "example", f"{name}.avsc")
        with open(path, encoding="utf-8") as f:
            return f.read()

    conf = {"auto.register.schemas": True}
    key_serializer = AvroSerializer(client, schema_text("Widget_key"), conf=conf)
    value_serializer = AvroSerializer(client, schema_text("Widget"), conf=conf)
    for widget in widgets(args.run_id, args.count):
        key = key_serializer({"id": widget["id"]}, SerializationContext(args.topic, MessageField.KEY))
        value = value_serializer(widget, SerializationContext(args.topic, MessageField.VALUE))
        line = {"key": key.hex(), "value": value.hex(), "record": jsonable(widget)}
        print(json.dumps(line, ensure_ascii=False, sort_keys=True), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode")
    d.add_argument("--registry", required=True)
    d.add_argument("--topic", required=True)
    e = sub.add_parser("encode")
    e.add_argument("--registry", required=True)
    e.add_argument("--topic", required=True)
    e.add_argument("--schema-dir", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--run-id", type=int, required=True)
    args = parser.parse_args()
    {"decode": decode, "encode": encode}[args.command](args)


if __name__ == "__main__":
    main()
