"""Receiving with the callback-style official client, bounded in time."""
import threading

from conftest import wait_until


def collect(consumer, count, timeout=15.0, **receive_kwargs):
    """Runs `consumer.receive` until `count` events or `timeout`; returns (events, errors, contexts)."""
    events, errors, contexts = [], [], []

    def on_event(context, event):
        if event is not None:
            events.append(event)
            contexts.append(context)

    def on_error(context, error):
        errors.append(error)

    thread = threading.Thread(
        target=consumer.receive,
        kwargs=dict(on_event=on_event, on_error=on_error, **receive_kwargs),
        daemon=True,
    )
    thread.start()
    wait_until(lambda: len(events) >= count or errors, timeout)
    consumer.close()
    thread.join(timeout=15)
    assert not thread.is_alive(), "receive did not stop after close()"
    return events, errors, contexts
