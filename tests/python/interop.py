#!/usr/bin/env python3
"""Interop peer for deimos-rs: produce and consume Widget messages with independent clients.

Uses confluent-kafka (librdkafka) for Kafka and fastavro for Avro, with the same .avsc files
as deimos' avro_local backend: the value is a bare Avro binary datum of com.example.Widget,
the key a bare Avro datum of com.example.Widget_key {id: long}.

Both subcommands print one JSON object per message and line:
    {"key": {...} | null, "value": {...} | null, "partition": p, "offset": o}
with timestamp-millis fields as epoch milliseconds (ints).

    interop.py consume --brokers B --topic T --schema-dir D --count N --timeout S --group G
    interop.py produce --brokers B --topic T --schema-dir D --count N --run-id R

Exit status: 0 on success, 1 on a Kafka or decoding error, 2 on a timeout.
"""

import argparse
import datetime
import io
import json
import os
import sys
import time

import fastavro
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MS = datetime.timedelta(milliseconds=1)


def fail(message, status=1):
    print(f"interop.py: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def load_schema(schema_dir, relative):
    path = os.path.join(schema_dir, relative)
    with open(path, encoding="utf-8") as f:
        return fastavro.parse_schema(json.load(f))


def schemas(schema_dir):
    return (
        load_schema(schema_dir, "com/example/Widget_key.avsc"),
        load_schema(schema_dir, "com/example/Widget.avsc"),
    )


def encode(schema, record):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def decode(schema, data):
    if data is None:
        return None
    buf = io.BytesIO(data)
    record = fastavro.schemaless_reader(buf, schema, None)
    rest = buf.read()
    if rest:
        raise ValueError(f"{len(rest)} trailing bytes after the Avro datum")
    return record


def to_millis(dt):
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return (dt - EPOCH) // ONE_MS


def from_millis(ms):
    return EPOCH + datetime.timedelta(milliseconds=ms)


def jsonable(value):
    """Decoded Avro (fastavro's Python values) to JSON: datetimes become epoch millis."""
    if isinstance(value, datetime.datetime):
        return to_millis(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def emit(key, value, partition, offset):
    line = {"key": jsonable(key), "value": jsonable(value), "partition": partition, "offset": offset}
    print(json.dumps(line, ensure_ascii=False, sort_keys=True), flush=True)


def consume(args):
    key_schema, value_schema = schemas(args.schema_dir)
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "client.id": "deimos-interop-python",
        }
    )
    consumer.subscribe([args.topic])
    deadline = time.monotonic() + args.timeout
    seen = 0
    try:
        while seen < args.count:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(
                    f"timed out after {args.timeout}s: read {seen} of {args.count} messages from {args.topic}",
                    2,
                )
            msg = consumer.poll(min(left, 1.0))
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail(f"consumer error on {args.topic}: {msg.error()}")
            where = f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
            try:
                key = decode(key_schema, msg.key())
                value = decode(value_schema, msg.value())
            except Exception as e:  # noqa: BLE001 - report any decoding failure with its position
                fail(f"cannot decode the message at {where}: {e!r} (key={msg.key()!r}, value={msg.value()!r})")
            emit(key, value, msg.partition(), msg.offset())
            seen += 1
    finally:
        consumer.close()


def widgets(run_id, count):
    """`count` varied widgets with ids run_id * 1000 + i, as fastavro takes them."""
    names = ["gear", "Zahnrad \u2699", "sprocket", "", "b\u00e9zier \"quoted\" \\ slash", "\U0001f527 wrench"]
    prices = [9.5, 0.1, 1234567.891, 0.0, -3.25, 1e-9, 2.5e15]
    tag_sets = [[], ["red"], ["red", "blue"], ["\u00fcml\u00e4ut", "", "x" * 300]]
    descriptions = [None, "a fine widget", "", "line one\nline two", "\u65e5\u672c\u8a9e"]
    stamps = [1_700_000_000_123, 0, 1, -86_400_000 + 7, 4_102_444_800_000, 1_234_567_890_000]
    out = []
    for i in range(count):
        out.append(
            {
                "id": run_id * 1000 + i,
                "name": names[i % len(names)],
                "price": prices[i % len(prices)],
                "tags": tag_sets[i % len(tag_sets)],
                "description": descriptions[i % len(descriptions)],
                # A datetime, so fastavro's timestamp-millis conversion is exercised.
                "updated_at": from_millis(stamps[i % len(stamps)] + i),
            }
        )
    return out


def produce(args):
    if args.count > 1000:
        fail("--count must be at most 1000 (ids are run_id * 1000 + i)")
    key_schema, value_schema = schemas(args.schema_dir)
    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "client.id": "deimos-interop-python",
            "acks": "all",
            "enable.idempotence": False,
        }
    )
    delivered = {}
    errors = []

    def on_delivery(index):
        def report(err, msg):
            if err is not None:
                errors.append(f"message {index}: {err}")
            else:
                delivered[index] = (msg.partition(), msg.offset())

        return report

    sent = widgets(args.run_id, args.count)
    for i, widget in enumerate(sent):
        key = {"id": widget["id"]}
        while True:
            try:
                producer.produce(
                    args.topic,
                    key=encode(key_schema, key),
                    value=encode(value_schema, widget),
                    on_delivery=on_delivery(i),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(args.timeout)
    if errors:
        fail("delivery failed: " + "; ".join(errors))
    if left or len(delivered) != len(sent):
        fail(f"timed out after {args.timeout}s: {len(delivered)} of {len(sent)} messages delivered to {args.topic}", 2)
    for i, widget in enumerate(sent):
        partition, offset = delivered[i]
        emit({"id": widget["id"]}, widget, partition, offset)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("consume", "produce"):
        p = sub.add_parser(name)
        p.add_argument("--brokers", required=True, help="bootstrap servers, host:port[,host:port]")
        p.add_argument("--topic", required=True)
        p.add_argument("--schema-dir", required=True, help="the directory holding com/example/Widget.avsc")
        p.add_argument("--count", type=int, required=True, help="number of messages")
        p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    sub.choices["consume"].add_argument("--group", required=True, help="consumer group id")
    sub.choices["produce"].add_argument("--run-id", type=int, required=True, help="ids are RUN_ID * 1000 + i")
    args = parser.parse_args()
    try:
        if args.command == "consume":
            consume(args)
        else:
            produce(args)
    except KafkaException as e:
        fail(f"kafka error: {e}")


if __name__ == "__main__":
    main()
