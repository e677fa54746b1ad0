//! The pooled producer that the composer and the load generator share, with the knobs people
//! tune on pooled Event Hubs producers: connections, sends in flight per connection, an idle
//! timeout, a maximum lifespan, and an optional ready message (an event sent to prove a new
//! connection works before it takes traffic). Every send has a timeout; a connection whose send
//! fails or times out is discarded and the next send on its slot opens a fresh one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_messaging_eventhubs::ProducerClient;
use serde::Serialize;
use tokio::sync::{RwLock, Semaphore};

use super::event::OutgoingEvent;
use super::send::{send_events, Packing, SendError, SendReceipt};
use crate::hub::{self, Target};

#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    pub connections: usize,
    pub in_flight_per_connection: usize,
    /// Close a connection unused for this long.
    pub idle_timeout: Option<Duration>,
    /// Replace a connection older than this.
    pub max_lifespan: Option<Duration>,
    /// Sent (spread) on each new connection before it takes traffic.
    pub ready_message: Option<String>,
    pub send_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            connections: 4,
            in_flight_per_connection: 8,
            idle_timeout: Some(Duration::from_secs(60)),
            max_lifespan: None,
            ready_message: None,
            send_timeout: hub::DEFAULT_TIMEOUT,
        }
    }
}

/// What the pool looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolState {
    /// Open and idle.
    pub ready: usize,
    /// Open with sends in flight.
    pub busy: usize,
    /// Being opened (first use, or replacing a discarded or expired connection).
    pub opening: usize,
    pub opened_total: u64,
    /// Discarded after a failed or timed-out send.
    pub discarded_total: u64,
    /// Closed for idleness or recycled for age.
    pub retired_total: u64,
}

struct Connection {
    client: ProducerClient,
    opened: Instant,
    last_used: std::sync::Mutex<Instant>,
}

struct Slot {
    permits: Semaphore,
    connection: RwLock<Option<Arc<Connection>>>,
    opening: std::sync::atomic::AtomicBool,
}

pub struct ProducerPool {
    target: Target,
    config: PoolConfig,
    slots: Vec<Slot>,
    next: AtomicUsize,
    opened: AtomicU64,
    discarded: AtomicU64,
    retired: AtomicU64,
}

impl ProducerPool {
    #[must_use]
    pub fn new(target: Target, config: PoolConfig) -> Arc<Self> {
        let slots = (0..config.connections.max(1))
            .map(|_| Slot {
                permits: Semaphore::new(config.in_flight_per_connection.max(1)),
                connection: RwLock::new(None),
                opening: std::sync::atomic::AtomicBool::new(false),
            })
            .collect();
        Arc::new(Self {
            target,
            config,
            slots,
            next: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            retired: AtomicU64::new(0),
        })
    }

    /// Sends `events` (one destination each is best: a batch goes to one partition) on the next
    /// connection with room, opening or replacing it as needed.
    pub async fn send(
        &self,
        events: &[OutgoingEvent],
        packing: Packing,
    ) -> Result<Vec<SendReceipt>, SendError> {
        self.send_described(events, &[], packing, |_| {}).await
    }

    /// [`Self::send`], with the hub's partitions so that receipts say where keyed events went;
    /// `on_receipt` hears of each publish as it is acknowledged (a long send's progress).
    pub async fn send_described(
        &self,
        events: &[OutgoingEvent],
        partition_ids: &[String],
        packing: Packing,
        on_receipt: impl FnMut(&SendReceipt),
    ) -> Result<Vec<SendReceipt>, SendError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let _permit = slot
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Service {
                what: "send",
                detail: "the pool is closed".into(),
            })?;
        let connection = self.connection(slot).await?;
        let outcome = send_events(
            &connection.client,
            events,
            partition_ids,
            packing,
            self.config.send_timeout,
            on_receipt,
        )
        .await;
        if let Ok(mut used) = connection.last_used.lock() {
            *used = Instant::now();
        }
        if outcome.is_err() {
            self.discard(slot, &connection).await;
        }
        outcome
    }

    /// Opens every connection, and on each the sender links for the hub and for `partitions`
    /// (preparing a batch attaches the link), so that a run's first second does not pay for
    /// setup: measured, that was the whole of a 1,000 events/s run's p99. Returns the first failure.
    pub async fn warm_up(&self, partitions: &[String]) -> Result<(), SendError> {
        let timeout = self.config.send_timeout;
        for slot in &self.slots {
            let connection = self.connection(slot).await?;
            let paths = std::iter::once(None).chain(partitions.iter().map(Some));
            for partition in paths {
                let options = azure_messaging_eventhubs::EventDataBatchOptions {
                    partition_id: partition.cloned(),
                    ..Default::default()
                };
                match tokio::time::timeout(timeout, connection.client.create_batch(Some(options)))
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        return Err(SendError::Service {
                            what: "attach a sender link",
                            detail: hub::error_chain(&e),
                        })
                    }
                    Err(_) => {
                        return Err(SendError::Timeout {
                            what: "attach a sender link",
                            after: timeout,
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// The slot's open connection, opened (with the ready message) or replaced when expired.
    async fn connection(&self, slot: &Slot) -> Result<Arc<Connection>, SendError> {
        if let Some(c) = slot.connection.read().await.as_ref() {
            if !self.expired(c) {
                return Ok(c.clone());
            }
        }
        let mut guard = slot.connection.write().await;
        if let Some(c) = guard.as_ref() {
            if !self.expired(c) {
                return Ok(c.clone());
            }
            self.retired.fetch_add(1, Ordering::Relaxed);
            close_later(guard.take());
        }
        slot.opening.store(true, Ordering::Relaxed);
        let opened = self.open().await;
        slot.opening.store(false, Ordering::Relaxed);
        let connection = Arc::new(opened?);
        self.opened.fetch_add(1, Ordering::Relaxed);
        *guard = Some(connection.clone());
        Ok(connection)
    }

    async fn open(&self) -> Result<Connection, SendError> {
        let timeout = self.config.send_timeout;
        let client = hub::within("connect", timeout, self.target.open_producer())
            .await
            .map_err(|e| SendError::Service {
                what: "open a connection",
                detail: e.to_string(),
            })?;
        if let Some(message) = &self.config.ready_message {
            let proof = [OutgoingEvent::text(message.clone())];
            if let Err(e) =
                send_events(&client, &proof, &[], Packing::Batches, timeout, |_| {}).await
            {
                close_later(Some(Arc::new(Connection {
                    client,
                    opened: Instant::now(),
                    last_used: std::sync::Mutex::new(Instant::now()),
                })));
                return Err(SendError::Service {
                    what: "prove a new connection with the ready message",
                    detail: e.to_string(),
                });
            }
        }
        Ok(Connection {
            client,
            opened: Instant::now(),
            last_used: std::sync::Mutex::new(Instant::now()),
        })
    }

    fn expired(&self, c: &Connection) -> bool {
        self.config
            .max_lifespan
            .is_some_and(|max| c.opened.elapsed() >= max)
    }

    async fn discard(&self, slot: &Slot, failed: &Arc<Connection>) {
        let mut guard = slot.connection.write().await;
        if guard.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            self.discarded.fetch_add(1, Ordering::Relaxed);
            close_later(guard.take());
        }
    }

    /// Closes connections idle past the idle timeout; call it now and then (the runner does,
    /// once a second).
    pub async fn close_idle(&self) {
        let Some(idle) = self.config.idle_timeout else {
            return;
        };
        for slot in &self.slots {
            // A slot with sends in flight is not idle.
            let Ok(_all) = slot.permits.try_acquire_many(
                u32::try_from(self.config.in_flight_per_connection.max(1)).unwrap_or(1),
            ) else {
                continue;
            };
            let mut guard = slot.connection.write().await;
            let stale = guard
                .as_ref()
                .is_some_and(|c| c.last_used.lock().is_ok_and(|used| used.elapsed() >= idle));
            if stale {
                self.retired.fetch_add(1, Ordering::Relaxed);
                close_later(guard.take());
            }
        }
    }

    #[must_use]
    pub fn state(&self) -> PoolState {
        let mut state = PoolState {
            opened_total: self.opened.load(Ordering::Relaxed),
            discarded_total: self.discarded.load(Ordering::Relaxed),
            retired_total: self.retired.load(Ordering::Relaxed),
            ..PoolState::default()
        };
        let full = self.config.in_flight_per_connection.max(1);
        for slot in &self.slots {
            if slot.opening.load(Ordering::Relaxed) {
                state.opening += 1;
            } else if slot.connection.try_read().is_ok_and(|c| c.is_some()) {
                if slot.permits.available_permits() < full {
                    state.busy += 1;
                } else {
                    state.ready += 1;
                }
            } else if slot.permits.available_permits() < full {
                state.busy += 1;
            }
        }
        state
    }

    /// Closes every connection.
    pub async fn close(&self) {
        for slot in &self.slots {
            if let Some(c) = slot.connection.write().await.take() {
                if let Ok(c) = Arc::try_unwrap(c) {
                    let _ = tokio::time::timeout(Duration::from_secs(2), c.client.close()).await;
                }
            }
        }
    }
}

/// Closes a connection in the background once no send holds it; a dead endpoint cannot stall us.
fn close_later(connection: Option<Arc<Connection>>) {
    let Some(mut connection) = connection else {
        return;
    };
    tokio::spawn(async move {
        // Sends in flight finish (or time out) first; after a minute the client is just dropped.
        for _ in 0..600 {
            match Arc::try_unwrap(connection) {
                Ok(c) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), c.client.close()).await;
                    return;
                }
                Err(still_shared) => {
                    connection = still_shared;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}
