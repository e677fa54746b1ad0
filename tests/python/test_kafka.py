"""The endpoint's Kafka face through real Kafka clients: confluent-kafka (librdkafka inside) and
kafka-python, over the same hubs the official AMQP client reads (kafkajs: test_kafkajs.py)."""
import socket
import struct
import time

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import KafkaError as KpKafkaError

from conftest import start, stop, wait_until
from helpers import collect


def produce(emu, topic, records, compression="none", partition=None, config=None):
    """Sends (key, value, headers) records with confluent-kafka; returns the delivery reports."""
    producer = Producer({**emu.kafka_config(), "compression.type": compression, **(config or {})})
    reports = []
    for key, value, headers in records:
        kwargs = {"key": key, "value": value, "headers": headers}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, on_delivery=lambda e, m: reports.append((e, m)), **kwargs)
    assert producer.flush(15) == 0, "every record delivered or failed within 15 s"
    return reports


def consume(consumer, count, timeout=20.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        got.append(message)
    return got


def group_consumer(emu, group, **extra):
    return Consumer(
        {
            **emu.kafka_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            **extra,
        }
    )


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_confluent_kafka_produces_compressed_and_consumes_in_a_group_with_commits(emulator, compression):
    records = [(b"key-%d" % i, b"value-%d" % i, [("trace", b"t%d" % i)]) for i in range(50)]
    reports = produce(emulator, "eh1", records, compression, config={"enable.idempotence": True})
    assert [e for e, _ in reports if e] == []
    consumer = group_consumer(emulator, f"g-{compression}")
    consumer.subscribe(["eh1"])
    got = consume(consumer, 50)
    assert sorted(m.value() for m in got) == sorted(v for _, v, _ in records)
    by_value = {m.value(): m for m in got}
    assert by_value[b"value-7"].key() == b"key-7"
    assert by_value[b"value-7"].headers() == [("trace", b"t7")]
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition("eh1", 0), TopicPartition("eh1", 1)], timeout=10)
    ends = {p: consumer.get_watermark_offsets(TopicPartition("eh1", p), timeout=10)[1] for p in (0, 1)}
    assert {tp.partition: tp.offset for tp in committed} == ends
    consumer.close()


def test_kafka_python_round_trip_with_keys_headers_gzip_and_commits(emulator):
    common = dict(
        bootstrap_servers=emulator.kafka_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="$ConnectionString",
        sasl_plain_password=emulator.connection_string(),
    )
    producer = KafkaProducer(compression_type="gzip", **common)
    for i in range(10):
        producer.send("eh1", key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"%d" % i)], partition=i % 2)
    producer.flush(15)
    producer.close()
    consumer = KafkaConsumer(
        "eh1", group_id="kp", auto_offset_reset="earliest", enable_auto_commit=False,
        consumer_timeout_ms=10000, **common,
    )
    got = []
    for message in consumer:
        got.append(message)
        if len(got) == 10:
            break
    assert sorted(m.value for m in got) == sorted(b"v%d" % i for i in range(10))
    assert all(m.timestamp_type == 1 for m in got), "LogAppendTime, as the service's hubs"
    five = next(m for m in got if m.value == b"v5")
    assert (five.key, five.headers, five.partition) == (b"k5", [("h", b"5")], 1)
    consumer.commit()
    assert consumer.committed(KpTopicPartition("eh1", 1)) == 5
    consumer.close()


def test_a_second_consumer_joining_rebalances_the_partitions(emulator):
    admin = AdminClient(emulator.kafka_config())
    futures = admin.create_topics([NewTopic("four", num_partitions=4, replication_factor=1)])
    futures["four"].result(15)
    first = group_consumer(emulator, "rebalance")
    first.subscribe(["four"])
    assert wait_until(lambda: first.poll(0.2) is None and len(first.assignment()) == 4, 20)
    second = group_consumer(emulator, "rebalance")
    second.subscribe(["four"])

    def split():
        first.poll(0.1)
        second.poll(0.1)
        return len(first.assignment()) == 2 and len(second.assignment()) == 2

    assert wait_until(split, 30), (first.assignment(), second.assignment())
    owned = {tp.partition for tp in first.assignment()} | {tp.partition for tp in second.assignment()}
    assert owned == {0, 1, 2, 3}
    second.close()
    assert wait_until(lambda: first.poll(0.2) is None and len(first.assignment()) == 4, 30)
    first.close()


def test_a_restarted_consumer_resumes_from_its_committed_offset(emulator):
    produce(emulator, "eh1", [(None, b"e%d" % i, []) for i in range(10)], partition=0)
    consumer = group_consumer(emulator, "resume")
    consumer.assign([TopicPartition("eh1", 0, 0)])
    got = consume(consumer, 4)
    consumer.commit(message=got[-1], asynchronous=False)
    consumer.close()
    again = group_consumer(emulator, "resume")
    again.subscribe(["eh1"])
    rest = [m for m in consume(again, 6) if m.partition() == 0]
    assert [m.value() for m in rest] == [b"e%d" % i for i in range(4, 10)]
    again.close()


def test_offsets_and_events_survive_an_endpoint_restart_with_a_data_dir(tmp_path):
    emu = start("--data-dir", str(tmp_path))
    try:
        produce(emu, "eh1", [(b"k", b"kept-%d" % i, []) for i in range(6)], partition=1)
        consumer = group_consumer(emu, "durable")
        consumer.assign([TopicPartition("eh1", 1, 0)])
        got = consume(consumer, 3)
        consumer.commit(message=got[-1], asynchronous=False)
        consumer.close()
    finally:
        stop(emu)
    emu = start("--data-dir", str(tmp_path))
    try:
        consumer = group_consumer(emu, "durable")
        consumer.subscribe(["eh1"])
        rest = consume(consumer, 3)
        assert [m.value() for m in rest] == [b"kept-3", b"kept-4", b"kept-5"]
        consumer.close()
    finally:
        stop(emu)


def test_kafka_records_read_over_amqp_and_amqp_events_read_over_kafka(emulator):
    produce(emulator, "eh1", [(b"kafka-key", b"from-kafka", [("origin", b"kafka")])], partition=0)
    consumer = EventHubConsumerClient.from_connection_string(
        emulator.connection_string(), consumer_group="$Default"
    )
    events, errors, _ = collect(consumer, 1, partition_id="0", starting_position="-1")
    assert not errors and len(events) == 1
    event = events[0]
    assert event.body_as_str() == "from-kafka"
    assert event.properties == {b"origin": b"kafka"}, "a Kafka header is a binary property"
    assert event.system_properties[b"x-opt-kafka-key"] == b"kafka-key"
    assert event.partition_key is None, "a Kafka key is not a partition key"

    with EventHubProducerClient.from_connection_string(emulator.connection_string()) as p:
        batch = p.create_batch(partition_key="customer-9")
        data = EventData("from-amqp")
        data.properties = {"kind": "order"}
        data.content_type = "text/plain"
        batch.add(data)
        p.send_batch(batch)
    reader = group_consumer(emulator, "cross")
    reader.subscribe(["eh1"])
    got = [m for m in consume(reader, 2) if m.value() == b"from-amqp"]
    assert len(got) == 1
    headers = dict(got[0].headers())
    assert got[0].key() is None
    assert headers["x-opt-partition-key"] == b"customer-9"
    assert headers["content-type"] == b"text/plain"
    # The service hands application properties over as their AMQP encoding: str8 "order".
    assert headers["kind"] == b"\xa1\x05order"
    reader.close()


def test_a_wrong_password_gets_kafkas_authentication_error(verifying_emulator):
    emu = verifying_emulator
    errors = []
    producer = Producer(
        {
            **emu.kafka_config(password=emu.connection_string(key="wrong")),
            "error_cb": errors.append,
        }
    )
    producer.produce("eh1", b"never")
    producer.flush(5)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert any("Authentication failed" in e.str() for e in errors), errors
    # The right key works on the same endpoint.
    reports = produce(emu, "eh1", [(None, b"allowed", [])])
    assert [e for e, _ in reports] == [None]


def test_an_unknown_topic_is_kafkas_unknown_topic(emulator):
    producer = Producer(
        {**emulator.kafka_config(), "message.timeout.ms": 5000, "topic.metadata.propagation.max.ms": 1000}
    )
    reports = []
    producer.produce("nosuch", b"x", on_delivery=lambda e, m: reports.append(e))
    producer.flush(10)
    assert len(reports) == 1 and reports[0] is not None
    assert reports[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), reports[0]


def test_an_oversized_record_is_message_too_large_and_nothing_is_stored(emulator):
    producer = Producer({**emulator.kafka_config(), "message.max.bytes": 3_000_000})
    reports = []
    producer.produce("eh1", b"x" * 1_500_000, partition=0, on_delivery=lambda e, m: reports.append(e))
    producer.flush(15)
    assert reports and reports[0] is not None
    assert reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports[0]
    consumer = group_consumer(emulator, "size")
    low, high = consumer.get_watermark_offsets(TopicPartition("eh1", 0), timeout=10)
    assert (low, high) == (0, 0)
    consumer.close()


def test_a_malformed_request_closes_only_its_own_connection(emulator):
    host, port = emulator.kafka_bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        # Metadata v9 whose body is cut short and then garbage.
        body = struct.pack(">hhi", 3, 9, 1) + b"\xff\xff\xff\x7f\x00"
        raw.sendall(struct.pack(">i", len(body)) + body)
        assert raw.recv(16) == b"", "the connection is closed, as a broker closes it"
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(struct.pack(">i", 0x7FFFFFFF))
        assert raw.recv(16) == b"", "a frame larger than the bound is refused at once"
    # The endpoint goes on serving everyone else.
    reports = produce(emulator, "eh1", [(None, b"still-here", [])])
    assert [e for e, _ in reports] == [None]


def _call(raw, api, version, correlation, tail=b""):
    """Sends one request with a v1 header (a v2 header where `tail` carries its tagged fields)
    and returns the response after its correlation id."""
    body = struct.pack(">hhih", api, version, correlation, -1) + tail
    raw.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", _read(raw, 4))[0]
    response = _read(raw, size)
    assert struct.unpack(">i", response[:4])[0] == correlation
    return response[4:]


def _read(raw, count):
    data = b""
    while len(data) < count:
        chunk = raw.recv(count - len(data))
        assert chunk, "the connection stayed open"
        data += chunk
    return data


UNSUPPORTED_VERSION = 35


def test_an_api_or_version_not_served_is_unsupported_version_on_a_connection_that_stays_open(
    emulator,
):
    host, port = emulator.kafka_bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        # EndTxn v1 (transactions are not served): throttle time, then the error.
        body = _call(raw, 26, 1, 7)
        assert struct.unpack(">ih", body) == (0, UNSUPPORTED_VERSION)
        # Metadata v13 (served up to 12): flexible, its top-level error last before the tags.
        body = _call(raw, 3, 13, 8, tail=b"\x00")
        assert struct.unpack(">h", body[-3:-1])[0] == UNSUPPORTED_VERSION
        # ApiVersions v9 gets the served list in a v0 body (KIP-511).
        body = _call(raw, 18, 9, 9, tail=b"\x00")
        assert struct.unpack(">h", body[:2])[0] == UNSUPPORTED_VERSION
        # The same connection goes on: ApiVersions v0 answers without an error.
        body = _call(raw, 18, 0, 10)
        assert struct.unpack(">h", body[:2])[0] == 0
        served = struct.unpack(">i", body[2:6])[0]
        keys = {struct.unpack(">h", body[6 + 6 * i : 8 + 6 * i])[0] for i in range(served)}
        assert 26 not in keys and {0, 1, 3, 18} <= keys


def test_groups_are_listed_described_and_deleted(emulator):
    produce(emulator, "eh1", [(None, b"x", [])], partition=0)
    consumer = group_consumer(emulator, "listed")
    consumer.subscribe(["eh1"])
    consume(consumer, 1)
    admin = AdminClient(emulator.kafka_config())
    listed = admin.list_consumer_groups().result(10)
    assert "listed" in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups(["listed"])["listed"].result(10)
    assert len(described.members) == 1
    refused = admin.delete_consumer_groups(["listed"])["listed"]
    with pytest.raises(KafkaException) as info:
        refused.result(10)
    assert info.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    consumer.close()
    admin.delete_consumer_groups(["listed"])["listed"].result(10)
    assert "listed" not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}


def hubscope_lag(emu, *args):
    import json
    import os
    import subprocess
    from pathlib import Path

    binary = Path(os.environ.get("HUBSCOPE_BIN", Path(__file__).resolve().parents[2] / "target" / "debug" / "hubscope"))
    run = subprocess.run(
        [str(binary), "lag", "--connection-string", emu.connection_string(),
         "--kafka-endpoint", emu.kafka_bootstrap, "--output", "json", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_hubscope_lag_reads_a_kafka_groups_committed_offsets_and_owners(emulator):
    produce(emulator, "eh1", [(None, b"e%d" % i, []) for i in range(10)], partition=0)
    consumer = group_consumer(emulator, "billing", **{"client.id": "billing-worker"})
    consumer.subscribe(["eh1"])
    got = [m for m in consume(consumer, 10) if m.partition() == 0]
    consumer.commit(message=got[3], asynchronous=False)

    report = hubscope_lag(emulator, "--kafka-group", "billing")
    (group,) = report["consumer_groups"]
    assert (group["name"], group["kind"]) == ("billing", "kafka")
    assert report["checkpoint_namespace"] == f"kafka://{emulator.kafka_bootstrap}"
    partitions = {p["partition_id"]: p for p in group["partitions"]}
    assert partitions["0"]["checkpoint_sequence_number"] == 3
    assert partitions["0"]["lag_events"] == 6
    assert partitions["1"]["checkpoint_sequence_number"] is None
    assert all("billing-worker" in p["owner_id"] for p in group["partitions"]), group
    assert group["lag_events"] == 6

    consumer.close()
    every = hubscope_lag(emulator, "--kafka")
    (group,) = [g for g in every["consumer_groups"] if g["name"] == "billing"]
    assert any("no consumer is in the group" in w for w in group["warnings"]), group
    assert all(p["owner_id"] is None for p in group["partitions"])


def test_kafka_over_tls_with_the_endpoints_certificate(tmp_path):
    emu = start("--kafka-tls-port", "0", "--data-dir", str(tmp_path))
    try:
        assert emu.kafka_tls_bootstrap and emu.tls_certificate
        tls = {
            **emu.kafka_config(),
            "bootstrap.servers": emu.kafka_tls_bootstrap,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": emu.tls_certificate,
        }
        producer = Producer(tls)
        reports = []
        producer.produce("eh1", b"over-tls", partition=1, on_delivery=lambda e, m: reports.append(e))
        assert producer.flush(15) == 0
        assert reports == [None]
        consumer = Consumer({**tls, "group.id": "tls", "auto.offset.reset": "earliest"})
        consumer.subscribe(["eh1"])
        got = consume(consumer, 1)
        assert [m.value() for m in got] == [b"over-tls"]
        consumer.close()
    finally:
        stop(emu)
