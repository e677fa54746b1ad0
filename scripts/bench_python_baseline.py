"""The official Python client's best batched send rate against an endpoint, for comparison with
`hubscope load --rate max`: one producer client per partition, each in its own thread, sending
batches filled to the size limit with 1 KiB events, as fast as they are acknowledged.

Usage: .venv/bin/python scripts/bench_python_baseline.py CONNECTION_STRING HUB SECONDS
"""
import sys
import threading
import time

from azure.eventhub import EventData, EventHubProducerClient


def worker(cs, hub, partition, deadline, counts, index):
    client = EventHubProducerClient.from_connection_string(cs, eventhub_name=hub)
    body = b"x" * 1024
    with client:
        while time.monotonic() < deadline:
            batch = client.create_batch(partition_id=partition)
            while True:
                try:
                    batch.add(EventData(body))
                except ValueError:
                    break
            client.send_batch(batch)
            counts[index] += len(batch)


def main():
    cs, hub, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    probe = EventHubProducerClient.from_connection_string(cs, eventhub_name=hub)
    with probe:
        partitions = probe.get_partition_ids()
    counts = [0] * len(partitions)
    start = time.monotonic()
    deadline = start + seconds
    threads = [
        threading.Thread(target=worker, args=(cs, hub, p, deadline, counts, i))
        for i, p in enumerate(partitions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print(f"python azure-eventhub: {sum(counts)} events in {elapsed:.1f} s = {sum(counts) / elapsed:.0f} events/s")


if __name__ == "__main__":
    main()
