"""The official Python client (`azure-eventhub`) against the embedded endpoint."""
import asyncio
import datetime
import json
import threading
import time
from pathlib import Path

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
from azure.eventhub.aio import EventHubConsumerClient as AsyncConsumer
from azure.eventhub.aio import EventHubProducerClient as AsyncProducer
from azure.eventhub.exceptions import EventHubError

from conftest import wait_until
from helpers import collect

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "partition-key-hash-vectors.json").read_text()
)["vectors"]


def producer(emu, hub="eh1", **kw):
    return EventHubProducerClient.from_connection_string(emu.connection_string(hub, **kw))


def consumer(emu, group="$Default", hub="eh1", **kw):
    return EventHubConsumerClient.from_connection_string(
        emu.connection_string(hub), consumer_group=group, **kw
    )


def send(emu, bodies, **batch_kwargs):
    with producer(emu) as p:
        batch = p.create_batch(**batch_kwargs)
        for body in bodies:
            batch.add(EventData(body))
        p.send_batch(batch)


def test_hub_and_partition_properties(emulator):
    with producer(emulator) as p:
        hub = p.get_eventhub_properties()
        assert hub["eventhub_name"] == "eh1"
        assert hub["partition_ids"] == ["0", "1"]
        part = p.get_partition_properties("0")
        assert part["is_empty"] is True
        assert part["last_enqueued_sequence_number"] == -1
        p.send_event(EventData("x"), partition_id="0")
        part = p.get_partition_properties("0")
        assert part["last_enqueued_sequence_number"] == 0
        assert part["is_empty"] is False


def test_config_json_and_key_routing(topology):
    """Keys land where the service's hash puts them; the topology comes from Config.json."""
    with producer(topology, hub="four") as p:
        assert p.get_eventhub_properties()["partition_ids"] == ["0", "1", "2", "3"]
        for v in VECTORS:
            batch = p.create_batch(partition_key=v["key"])
            batch.add(EventData(v["key"]))
            p.send_batch(batch)
    events, errors, contexts = collect(
        consumer(topology, hub="four"), len(VECTORS), starting_position="-1"
    )
    assert not errors
    assert len(events) == len(VECTORS)
    expected = {v["key"]: str(v["partition_of_4"]) for v in VECTORS}
    for event, context in zip(events, contexts):
        key = event.partition_key.decode()
        assert key == event.body_as_str()
        assert context.partition_id == expected[key], key


def test_single_events_batches_and_properties(emulator):
    with producer(emulator) as p:
        p.send_event(EventData("one"), partition_id="1")
        batch = p.create_batch(partition_id="1")
        for i in range(20):
            e = EventData(f"b{i}")
            e.properties = {"i": i, "kind": "batch"}
            e.content_type = "text/plain"
            batch.add(e)
        p.send_batch(batch)
    events, errors, _ = collect(consumer(emulator), 21, partition_id="1", starting_position="-1")
    assert not errors
    assert [e.sequence_number for e in events] == list(range(21))
    offsets = [int(e.offset) for e in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == 21
    assert events[0].body_as_str() == "one"
    assert events[5].properties[b"i"] == 4
    assert events[5].content_type == "text/plain"
    assert all(isinstance(e.enqueued_time, datetime.datetime) for e in events)


@pytest.mark.parametrize(
    "position, inclusive, expected",
    [
        ("-1", False, ["n0", "n1", "n2", "n3"]),
        (1, False, ["n2", "n3"]),  # sequence number, exclusive
        (1, True, ["n1", "n2", "n3"]),  # sequence number, inclusive
    ],
)
def test_start_positions(emulator, position, inclusive, expected):
    with producer(emulator) as p:
        for i in range(4):
            p.send_event(EventData(f"n{i}"), partition_id="0")
    events, errors, _ = collect(
        consumer(emulator),
        len(expected),
        partition_id="0",
        starting_position=position,
        starting_position_inclusive=inclusive,
    )
    assert not errors
    assert [e.body_as_str() for e in events] == expected


def test_offset_and_enqueued_time_positions(emulator):
    with producer(emulator) as p:
        for i in range(3):
            p.send_event(EventData(f"n{i}"), partition_id="0")
    everything, _, _ = collect(consumer(emulator), 3, partition_id="0", starting_position="-1")
    offset = everything[1].offset
    by_offset, errors, _ = collect(
        consumer(emulator), 1, partition_id="0", starting_position=offset
    )
    assert not errors and [e.body_as_str() for e in by_offset] == ["n2"]
    time.sleep(0.05)
    cut = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.05)
    with producer(emulator) as p:
        p.send_event(EventData("after"), partition_id="0")
    by_time, errors, _ = collect(consumer(emulator), 1, partition_id="0", starting_position=cut)
    assert not errors and [e.body_as_str() for e in by_time] == ["after"]


def test_latest_sees_only_new_events(emulator):
    send(emulator, ["old"], partition_id="0")
    c = consumer(emulator)
    events = []
    thread = threading.Thread(
        target=c.receive,
        kwargs=dict(on_event=lambda ctx, e: events.append(e), partition_id="0", starting_position="@latest"),
        daemon=True,
    )
    thread.start()
    time.sleep(1.5)
    send(emulator, ["new"], partition_id="0")
    assert wait_until(lambda: len(events) >= 1)
    c.close()
    thread.join(timeout=15)
    assert [e.body_as_str() for e in events] == ["new"]


def test_consumer_groups_read_independently(emulator):
    send(emulator, ["a", "b"], partition_id="1")
    for group in ["$Default", "cg1", "$default"]:
        events, errors, _ = collect(
            consumer(emulator, group=group), 2, partition_id="1", starting_position="-1"
        )
        assert not errors and [e.body_as_str() for e in events] == ["a", "b"], group


def test_runtime_metrics(emulator):
    send(emulator, ["m0", "m1", "m2"], partition_id="0")
    events, errors, contexts = collect(
        consumer(emulator),
        3,
        partition_id="0",
        starting_position="-1",
        track_last_enqueued_event_properties=True,
    )
    assert not errors
    props = contexts[-1].last_enqueued_event_properties
    assert props["sequence_number"] == 2
    assert props["offset"] == events[-1].offset
    assert isinstance(props["enqueued_time"], datetime.datetime)
    assert isinstance(props["retrieval_time"], datetime.datetime)


def test_owner_level_displaces_lower(emulator):
    send(emulator, ["e"], partition_id="0")
    low_events, low_errors = [], []
    low = consumer(emulator)
    t = threading.Thread(
        target=low.receive,
        kwargs=dict(
            on_event=lambda c, e: low_events.append(e),
            on_error=lambda c, err: low_errors.append(err),
            partition_id="0",
            starting_position="-1",
        ),
        daemon=True,
    )
    t.start()
    assert wait_until(lambda: low_events)
    high_events, high_errors, _ = collect(
        consumer(emulator), 1, partition_id="0", starting_position="-1", owner_level=10
    )
    assert not high_errors and len(high_events) == 1
    low.close()
    t.join(timeout=15)
    assert any("epoch" in str(err) for err in low_errors), low_errors


def test_sixth_receiver_is_refused(emulator):
    """The client's receive loop resets its retry count on every pass (azure-sdk-for-python
    #27137), so with default retries a refused receiver retries quietly; with `retry_total=0`
    the service's refusal reaches `on_error`."""
    clients, threads, received = [], [], [[] for _ in range(5)]
    for i in range(5):
        c = consumer(emulator)
        clients.append(c)
        t = threading.Thread(
            target=c.receive,
            kwargs=dict(
                on_event=lambda ctx, e, i=i: received[i].append(e),
                partition_id="1",
                starting_position="-1",
            ),
            daemon=True,
        )
        t.start()
        threads.append(t)
    time.sleep(2)
    sixth, errors, _ = collect(
        consumer(emulator, retry_total=0), 1, partition_id="1", starting_position="-1"
    )
    send(emulator, ["x"], partition_id="1")
    assert wait_until(lambda: all(len(r) == 1 for r in received))
    for c in clients:
        c.close()
    for t in threads:
        t.join(timeout=15)
    assert sixth == []
    assert any("maximum number of allowed receivers" in str(e) for e in errors), errors


def test_unknown_hub_fails_fast(emulator):
    started = time.monotonic()
    with producer(emulator, hub="nosuchhub") as p:
        with pytest.raises(EventHubError) as raised:
            p.get_eventhub_properties()
    assert "could not be found" in str(raised.value)
    assert time.monotonic() - started < 30


def test_unknown_partition_fails(emulator):
    with producer(emulator) as p:
        with pytest.raises(Exception) as raised:
            p.send_event(EventData("x"), partition_id="9")
        assert "invalid" in str(raised.value).lower() or "out of range" in str(raised.value).lower()


def test_unknown_consumer_group_reports_error(emulator):
    # retry_total=0: see test_sixth_receiver_is_refused for why default retries stay quiet.
    send(emulator, ["x"], partition_id="0")
    events, errors, _ = collect(
        consumer(emulator, group="nosuchgroup", retry_total=0),
        1,
        partition_id="0",
        starting_position="-1",
    )
    assert events == []
    assert any("could not be found" in str(e) for e in errors), errors


def test_oversized_publish_is_refused(emulator):
    started = time.monotonic()
    with producer(emulator) as p:
        with pytest.raises(Exception) as raised:
            p.send_event(EventData(b"x" * 1_100_000), partition_id="0")
        assert p.get_partition_properties("0")["is_empty"]
        p.send_event(EventData(b"y" * 900_000), partition_id="0")
    text = str(raised.value).lower()
    assert "size" in text or "too large" in text or "exceed" in text, text
    assert time.monotonic() - started < 30


def test_sas_keys_are_verified(verifying_emulator):
    with producer(verifying_emulator) as p:
        assert p.get_eventhub_properties()["eventhub_name"] == "eh1"
        p.send_event(EventData("signed"))
    started = time.monotonic()
    with producer(verifying_emulator, key="wrong") as p:
        with pytest.raises(Exception) as raised:
            p.get_eventhub_properties()
    assert "signature" in str(raised.value).lower() or "401" in str(raised.value)
    assert time.monotonic() - started < 30


def test_async_client_round_trip(emulator):
    async def scenario():
        async with AsyncProducer.from_connection_string(emulator.connection_string()) as p:
            assert (await p.get_eventhub_properties())["partition_ids"] == ["0", "1"]
            batch = await p.create_batch(partition_key="async-key")
            for i in range(10):
                batch.add(EventData(f"a{i}"))
            await p.send_batch(batch)
        received = []
        c = AsyncConsumer.from_connection_string(emulator.connection_string(), consumer_group="$Default")

        async def on_event(ctx, event):
            received.append(event)

        task = asyncio.ensure_future(c.receive(on_event=on_event, starting_position="-1"))
        for _ in range(300):
            if len(received) >= 10:
                break
            await asyncio.sleep(0.05)
        await c.close()
        await task
        return received

    received = asyncio.run(scenario())
    assert [e.body_as_str() for e in received] == [f"a{i}" for i in range(10)]
    assert {e.partition_key for e in received} == {b"async-key"}
