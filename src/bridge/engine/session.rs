//! A connected hub: opens a client, then refreshes the hub's properties on the user's interval
//! until the session is cancelled, and closes the client.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::send_event;
use crate::bridge::{ConnectionState, Event, Notice, Snapshot, Waker};
use crate::hub::{self, HubError, Target};

/// A connected hub: opens a client, then refreshes the properties on the user's interval.
pub(super) struct Session {
    pub(super) name: String,
    pub(super) target: Target,
    pub(super) snapshot: watch::Sender<Snapshot>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) waker: Waker,
    pub(super) interval: watch::Receiver<Duration>,
    pub(super) refresh_now: Arc<Notify>,
}

impl Session {
    /// Runs until `cancel`, then closes the client (the SDK's clients must be closed explicitly).
    pub(super) async fn run(mut self, cancel: CancellationToken) {
        let endpoint = self.target.endpoint_label.clone();
        let opened = tokio::select! {
            () = cancel.cancelled() => return,
            opened = hub::within("connect", hub::DEFAULT_TIMEOUT, self.target.open_consumer()) => opened,
        };
        let client = match opened {
            Ok(client) => client,
            Err(e) => return self.fail(&endpoint, &e),
        };
        self.refresh_until_cancelled(&client, &endpoint, &cancel)
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
    }

    async fn refresh_until_cancelled(
        &mut self,
        client: &azure_messaging_eventhubs::ConsumerClient,
        endpoint: &str,
        cancel: &CancellationToken,
    ) {
        // The first read is the real test of the connection: `open` does not authorize.
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            first = hub::read_properties(client, hub::DEFAULT_TIMEOUT) => first,
        };
        match first {
            Ok(hub) => self.publish(|s| {
                s.connection = ConnectionState::Connected {
                    profile: self.name.clone(),
                    endpoint: endpoint.to_string(),
                };
                s.hub = Some(hub);
                s.refreshed_at = Some(SystemTime::now());
                s.refresh_error = None;
            }),
            Err(e) => return self.fail(endpoint, &e),
        }
        loop {
            let interval = *self.interval.borrow_and_update();
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
                () = self.refresh_now.notified() => {}
                changed = self.interval.changed() => {
                    if changed.is_err() { break; }
                    continue;
                }
            }
            let read = tokio::select! {
                () = cancel.cancelled() => break,
                read = hub::read_properties(client, hub::DEFAULT_TIMEOUT) => read,
            };
            match read {
                Ok(hub) => self.publish(|s| {
                    s.hub = Some(hub);
                    s.refreshed_at = Some(SystemTime::now());
                    s.refresh_error = None;
                }),
                Err(e) => self.publish(|s| s.refresh_error = Some(e.to_string())),
            }
        }
    }

    fn publish(&self, change: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(change);
        (self.waker)();
    }

    fn fail(&self, endpoint: &str, error: &HubError) {
        let message = error.to_string();
        self.publish(|s| {
            s.connection = ConnectionState::Failed {
                profile: self.name.clone(),
                endpoint: endpoint.to_string(),
                error: message.clone(),
            };
        });
        send_event(
            &self.events,
            &self.waker,
            Event::Notice(Notice::error(
                format!("Could not connect to {}", self.name),
                message,
            )),
        );
    }
}
