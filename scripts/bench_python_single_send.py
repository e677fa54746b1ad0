"""The official Python client's single-send round trip against an endpoint: one producer, one
event per `send_event`, each waiting for its acknowledgement; prints p50, p90 and p99.

Usage: .venv/bin/python scripts/bench_python_single_send.py CONNECTION_STRING HUB COUNT
"""
import statistics
import sys
import time

from azure.eventhub import EventData, EventHubProducerClient


def main():
    cs, hub, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = EventHubProducerClient.from_connection_string(cs, eventhub_name=hub)
    body = b"x" * 1024
    with client:
        # The first send opens the link; it is not a round trip of the steady state.
        client.send_event(EventData(body), partition_id="0")
        took = []
        started = time.perf_counter()
        for _ in range(count):
            sent = time.perf_counter()
            client.send_event(EventData(body), partition_id="0")
            took.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - started
    took.sort()
    pick = lambda q: took[min(len(took) - 1, int(q * len(took)))] * 1000
    print(
        f"python azure-eventhub single send: {count} in {elapsed:.2f} s, "
        f"p50 {statistics.median(took) * 1000:.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms"
    )


if __name__ == "__main__":
    main()
