"""Ingest over Kafka beside ingest over AMQP, through one endpoint in one run.

Starts a release `hubscope-emulator` with three 8-partition hubs, then, one after the other:
- Kafka ingest alone: confluent-kafka's producer (librdkafka) sends N records of 1 KiB as fast
  as they are acknowledged; acknowledged records/s and the endpoint's CPU per event;
- Kafka with a consumer: the same while a confluent-kafka consumer in a group reads them; also
  whether the consumer kept up (its lag when the producer finished, and how long it took to
  reach the end);
- `hubscope load --rate max` with one plan (1 KiB events, batches of 500, 4 connections, 8 sends
  in flight each, round robin) over AMQP and over Kafka into the same hub, in turns, twice
  (AMQP first, then Kafka first), each for as long as Kafka ingest took: acknowledged events/s, send latency, and the CPU per event
  of the endpoint and of the generator.

Each `hubscope load` run gets a fresh endpoint (the endpoint's kernel time per event grows with
its heap, so a long-lived one would compare how full it is). The endpoint's CPU is read from
/proc for its process alone, and the generator's from its rusage, so neither counts the other's
work. BENCH_MAX_MEMORY_MIB sets the endpoint's store cap (4096 by default).

Usage: .venv/bin/python scripts/bench_kafka.py [RECORDS]
  HUBSCOPE_EMULATOR_BIN and HUBSCOPE_BIN name the release binaries (target/release by default).
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer

ROOT = Path(__file__).resolve().parents[1]
EMULATOR = os.environ.get("HUBSCOPE_EMULATOR_BIN", str(ROOT / "target/release/hubscope-emulator"))
HUBSCOPE = os.environ.get("HUBSCOPE_BIN", str(ROOT / "target/release/hubscope"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_endpoint(directory):
    config = {
        "UserConfig": {
            "NamespaceConfig": [
                {
                    "Type": "EventHub",
                    "Name": "bench",
                    "Entities": [
                        {"Name": name, "PartitionCount": 8, "ConsumerGroups": []}
                        for name in ("bench", "ingest", "load")
                    ],
                }
            ],
            "LoggingConfig": {"Type": "File"},
        }
    }
    path = Path(directory) / "Config.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [EMULATOR, "--port", "0", "--no-management", "--kafka-port", "0", "--config", str(path),
         "--max-memory-mib", os.environ.get("BENCH_MAX_MEMORY_MIB", "4096")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    amqp = kafka = None
    while True:
        line = process.stdout.readline()
        if "listening on amqp://" in line:
            amqp = line.strip().rsplit("://", 1)[1]
        elif " Kafka on " in line:
            kafka = line.split(" Kafka on ", 1)[1].split(" ", 1)[0]
        elif line.startswith("connection string") or not line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, amqp, kafka


def kafka_run(bootstrap, cs, records, pid, topic, read=True):
    common = {
        "bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN", "sasl.username": "$ConnectionString", "sasl.password": cs,
    }
    received = [0]
    stop = threading.Event()
    consumer = reader = None
    if read:
        consumer = Consumer({**common, "group.id": f"bench-{topic}", "auto.offset.reset": "earliest",
                             "fetch.min.bytes": 65536, "fetch.wait.max.ms": 100})
        consumer.subscribe([topic])
        # Joined before the clock starts; the hub is empty, so "earliest" is every record produced.
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.2)

        def read_all():
            while not stop.is_set():
                for message in consumer.consume(num_messages=10000, timeout=0.2):
                    if message.error() is None:
                        received[0] += 1

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
    producer = Producer({**common, "linger.ms": 5, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 200_000, "acks": "all"})
    acked = [0]

    def delivered(error, _message):
        if error is None:
            acked[0] += 1

    body = b"x" * 1024
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, body, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(120)
    produced_s = time.monotonic() - t0
    lag_at_end = acked[0] - received[0]
    while read and received[0] < acked[0] and time.monotonic() - t0 < produced_s + 60:
        time.sleep(0.01)
    caught_up_s = time.monotonic() - t0 - produced_s
    cpu = cpu_seconds(pid) - cpu0
    stop.set()
    if consumer is not None:
        reader.join(5)
        consumer.close()
    if not read:
        return {
            "records_acknowledged": acked[0],
            "seconds": round(produced_s, 2),
            "records_per_sec": round(acked[0] / produced_s),
            "endpoint_cpu_us_per_event": round(cpu / max(acked[0], 1) * 1e6, 2),
        }
    return {
        "records_acknowledged": acked[0],
        "records_read": received[0],
        "seconds": round(produced_s, 2),
        "records_per_sec": round(acked[0] / produced_s),
        "consumer_lag_when_producer_done": lag_at_end,
        "consumer_caught_up_after_s": round(caught_up_s, 2),
        "endpoint_cpu_us_per_event": round(cpu / max(acked[0], 1) * 1e6, 2),
    }


def load_run(amqp, kafka, protocol, seconds, pid):
    """`hubscope load` over `protocol`, the same plan each time, into the hub `load`."""
    cs = (f"Endpoint=sb://{amqp};SharedAccessKeyName=RootManageSharedAccessKey;"
          "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;EntityPath=load")
    args = [HUBSCOPE, "load", "--connection-string", cs, "--protocol", protocol,
            "--rate", "max", "--duration", f"{seconds}s", "--event-size", "1024",
            "--batch-size", "500", "--routing", "round-robin", "--output", "json"]
    if protocol == "kafka":
        args += ["--kafka-endpoint", kafka]
    cpu0 = cpu_seconds(pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_seconds(pid) - cpu0
    if run.returncode != 0:
        raise SystemExit(f"hubscope load --protocol {protocol} failed: {run.stderr}")
    report = json.loads(run.stdout)
    sent = report["events_sent"]
    generator = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "events_acknowledged": sent,
        "seconds": report["duration_secs"],
        "events_per_sec": round(report["achieved_rate_per_sec"]),
        "send_latency_p50_ms": round(report["send_latency_ms"]["p50"], 2),
        "send_latency_p99_ms": round(report["send_latency_ms"]["p99"], 2),
        "endpoint_cpu_us_per_event": round(cpu / max(sent, 1) * 1e6, 2),
        "generator_cpu_us_per_event": round(generator / max(sent, 1) * 1e6, 2),
    }


def main():
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as directory:
        process, amqp, kafka = start_endpoint(directory)
        try:
            cs = (f"Endpoint=sb://{amqp};SharedAccessKeyName=RootManageSharedAccessKey;"
                  "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;")
            result = {
                "kafka_ingest_only": kafka_run(kafka, cs, records, process.pid, "ingest", read=False),
                "kafka_with_consumer": kafka_run(kafka, cs, records, process.pid, "bench"),
            }
            seconds = max(5, round(result["kafka_ingest_only"]["seconds"]))
        finally:
            process.terminate()
            process.wait(10)
        # The same plan through the same generator, the protocol the only difference; in turns,
        # twice and in both orders, each on a fresh endpoint: the endpoint's kernel time per
        # event grows with its heap (1.3 µs at 1 GiB, 4.9 µs at 10 GiB, measured), so runs into
        # one long-lived endpoint compare how full it is, not the protocols.
        for turn, order in ((1, ("amqp", "kafka")), (2, ("kafka", "amqp"))):
            for protocol in order:
                with tempfile.TemporaryDirectory() as fresh:
                    process, amqp, kafka = start_endpoint(fresh)
                    try:
                        result[f"hubscope_load_{protocol}_{turn}"] = load_run(
                            amqp, kafka, protocol, seconds, process.pid)
                    finally:
                        process.terminate()
                        process.wait(10)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
