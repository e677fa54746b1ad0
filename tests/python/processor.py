"""One event processor as an application runs it: the official client with the official Blob
checkpoint store, checkpointing every event it reads, until it is killed. Run as a process of its
own so that two of them are two owners, and killing one is a crash, not a clean shutdown.

    processor.py <event hubs connection string> <consumer group> <storage connection string>
                 <container> [ownership expiration secs]
"""
import sys

from azure.eventhub import EventHubConsumerClient
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore


def main():
    hub_cs, group, storage_cs, container = sys.argv[1:5]
    expiration = float(sys.argv[5]) if len(sys.argv) > 5 else 6.0
    store = BlobCheckpointStore.from_connection_string(storage_cs, container)
    client = EventHubConsumerClient.from_connection_string(
        hub_cs,
        consumer_group=group,
        checkpoint_store=store,
        load_balancing_interval=1,
        partition_ownership_expiration_interval=expiration,
    )

    def on_event(context, event):
        if event is not None:
            context.update_checkpoint(event)

    print("started", flush=True)
    with client:
        client.receive(on_event=on_event, starting_position="-1")


if __name__ == "__main__":
    main()
