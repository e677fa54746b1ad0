"""The official Python client over every transport the endpoint serves: TLS (`amqps`) without
`UseDevelopmentEmulator`, AMQP over WebSockets inside TLS, and plain WebSockets; and the single-send
round trip the client sees on plain AMQP."""
import statistics
import time

import pytest
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, TransportType
from azure.eventhub.amqp import AmqpAnnotatedMessage, AmqpMessageBodyType

from conftest import start, stop
from helpers import collect


@pytest.fixture
def secure_emulator(tmp_path):
    # The certificate is generated into the data directory on first start.
    emu = start("--tls-port", "0", "--ws-port", "0", "--data-dir", str(tmp_path / "data"))
    yield emu
    stop(emu)


def service_connection_string(emu, hub="eh1"):
    """A connection string as for a real namespace: no `UseDevelopmentEmulator`, so TLS."""
    return (
        "Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={emu.key};EntityPath={hub}"
    )


def round_trip(producer_kwargs, consumer_kwargs, connection_string, marker):
    producer = EventHubProducerClient.from_connection_string(connection_string, **producer_kwargs)
    with producer:
        batch = producer.create_batch(partition_id="1")
        batch.add(EventData(marker))
        producer.send_batch(batch)
        producer.send_event(EventData(marker + "-single"), partition_id="1")
    consumer = EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group="$Default", **consumer_kwargs
    )
    events, errors, _ = collect(consumer, 2, partition_id="1", starting_position="-1")
    assert not errors, errors
    assert [e.body_as_str() for e in events] == [marker, marker + "-single"]


def test_tls_round_trip_without_the_emulator_flag(secure_emulator):
    emu = secure_emulator
    assert emu.tls_certificate, "the banner names the certificate"
    kwargs = dict(
        custom_endpoint_address=f"sb://localhost:{emu.tls_port}",
        connection_verify=emu.tls_certificate,
    )
    round_trip(kwargs, kwargs, service_connection_string(emu), "over-tls")


def test_tls_refuses_a_client_that_does_not_trust_the_certificate(secure_emulator):
    emu = secure_emulator
    producer = EventHubProducerClient.from_connection_string(
        service_connection_string(emu),
        custom_endpoint_address=f"sb://localhost:{emu.tls_port}",
        retry_total=0,
    )
    with producer, pytest.raises(Exception) as failure:
        producer.get_eventhub_properties()
    assert "certificate" in str(failure.value).lower() or "ssl" in str(failure.value).lower()


def test_websockets_inside_tls(secure_emulator):
    emu = secure_emulator
    kwargs = dict(
        transport_type=TransportType.AmqpOverWebsocket,
        custom_endpoint_address=f"sb://localhost:{emu.tls_port}",
        connection_verify=emu.tls_certificate,
    )
    round_trip(kwargs, kwargs, service_connection_string(emu), "over-wss")


def test_plain_websockets(secure_emulator):
    emu = secure_emulator
    kwargs = dict(
        transport_type=TransportType.AmqpOverWebsocket,
        custom_endpoint_address=f"sb://127.0.0.1:{emu.ws_port}",
    )
    round_trip(kwargs, kwargs, emu.connection_string(), "over-ws")


def test_delivery_annotations_after_the_body_are_taken(emulator):
    """The client's AMQP layer writes delivery annotations last; the service takes such messages."""
    producer = EventHubProducerClient.from_connection_string(emulator.connection_string())
    with producer:
        message = AmqpAnnotatedMessage(
            data_body=b"annotated",
            delivery_annotations={"x-note": "for one hop"},
            application_properties={"kind": "annotated"},
        )
        producer.send_event(message, partition_id="0")
        batch = producer.create_batch(partition_id="0")
        batch.add(
            AmqpAnnotatedMessage(data_body=b"in a batch", delivery_annotations={"x-note": "hop"})
        )
        producer.send_batch(batch)
    consumer = EventHubConsumerClient.from_connection_string(
        emulator.connection_string(), consumer_group="$Default"
    )
    events, errors, _ = collect(consumer, 2, partition_id="0", starting_position="-1")
    assert not errors, errors
    assert [e.body_as_str() for e in events] == ["annotated", "in a batch"]
    assert events[0].properties[b"kind"] == b"annotated"
    assert events[0].raw_amqp_message.body_type == AmqpMessageBodyType.DATA


def test_single_send_round_trip_is_fast(emulator):
    """A pooled single send waits only for its own disposition: no held second phase."""
    producer = EventHubProducerClient.from_connection_string(emulator.connection_string())
    with producer:
        producer.send_event(EventData(b"warm-up"), partition_id="0")
        took = []
        for i in range(200):
            started = time.perf_counter()
            producer.send_event(EventData(f"n{i}"), partition_id="0")
            took.append(time.perf_counter() - started)
    p50 = statistics.median(took)
    # Loopback and a debug build: the held disposition this guards against cost 50 ms per send.
    assert p50 < 0.025, f"median single send took {p50 * 1000:.1f} ms"
