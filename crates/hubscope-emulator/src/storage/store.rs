//! The emulator's event storage: the partition log (hubs and the namespace are in `namespace`).
//!
//! A partition log assigns sequence numbers (contiguous from 0), offsets (the byte position of the
//! event in the partition, as the service's are) and enqueued times (milliseconds, never going
//! backwards). Events are held in memory as their encoded AMQP message; with a data directory each
//! append is also written to the partition's [`Journal`] before it is acknowledged.
//!
//! Locks here are `std` mutexes held for short, non-async sections only.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::storage::backoff::Backoff;
pub use crate::storage::event::{NewEvent, StoredEvent};
use crate::storage::journal::{
    Compaction, Journal, JournalError, Newest, Recovered, RECORD_OVERHEAD,
};

/// A partition's runtime properties, as the management READ reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub begin_sequence_number: i64,
    /// -1 when nothing was ever enqueued.
    pub last_sequence_number: i64,
    pub last_offset: i64,
    pub last_enqueued_ms: i64,
    pub is_empty: bool,
    pub retained_events: usize,
}

/// Where a reader starts, resolved against the log with [`Partition::resolve_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    Earliest,
    Latest,
    Offset {
        offset: u64,
        inclusive: bool,
    },
    SequenceNumber {
        sequence_number: i64,
        inclusive: bool,
    },
    EnqueuedTime {
        unix_ms: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("partition journal failed")]
    Journal(#[from] JournalError),
    /// Its hub was deleted.
    #[error("the partition's hub was deleted")]
    Deleted,
}

#[derive(Debug, Default)]
struct PartitionLog {
    /// Its hub was deleted: nothing more is appended.
    deleted: bool,
    events: VecDeque<StoredEvent>,
    next_sequence_number: i64,
    next_offset: u64,
    last: Option<Newest>,
    retained_bytes: u64,
}

/// One partition: its log, a signal for readers, and its journal when durable.
#[derive(Debug)]
pub struct Partition {
    pub id: String,
    log: Mutex<PartitionLog>,
    journal: Option<Mutex<Journal>>,
    /// Publishes the next sequence number after every append, waking live readers.
    appended: watch::Sender<i64>,
    /// Bytes held across the namespace, shared by all partitions for the memory bound.
    namespace_bytes: Arc<AtomicU64>,
    max_namespace_bytes: u64,
    /// A compaction fails for want of disk space or permissions; retrying every second would
    /// rewrite the partition's events again and again meanwhile.
    compaction_backoff: Mutex<Backoff>,
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the log half-updated in a way readers would
    // misread (appends update counters after pushing), so recover rather than cascade.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Partition {
    pub(super) fn new(
        id: String,
        journal: Option<(Journal, Recovered)>,
        namespace_bytes: Arc<AtomicU64>,
        max_namespace_bytes: u64,
    ) -> Self {
        let mut log = PartitionLog::default();
        let journal = journal.map(|(journal, recovered)| {
            if let Some(newest) = recovered.newest {
                log.next_sequence_number = newest.sequence_number + 1;
                log.next_offset = newest.offset + newest.size;
                log.last = Some(newest);
            }
            log.retained_bytes = recovered
                .events
                .iter()
                .map(|e| e.message.len() as u64)
                .sum();
            log.events = recovered.events.into();
            Mutex::new(journal)
        });
        namespace_bytes.fetch_add(log.retained_bytes, Ordering::Relaxed);
        let (appended, _) = watch::channel(log.next_sequence_number);
        Self {
            id,
            log: Mutex::new(log),
            journal,
            appended,
            namespace_bytes,
            max_namespace_bytes,
            compaction_backoff: Mutex::default(),
        }
    }

    /// Appends events in order and returns the sequence number of the first. Only returns once
    /// the events are in the journal (when there is one), so an acknowledgement after this is
    /// honest.
    ///
    /// # Errors
    /// [`StoreError::Journal`] when the journal could not be written; nothing is appended then.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<i64, StoreError> {
        let mut log = lock(&self.log);
        if log.deleted {
            return Err(StoreError::Deleted);
        }
        let first = log.next_sequence_number;
        let enqueued_ms = now_ms().max(log.last.map_or(0, |n| n.enqueued_ms));
        let mut stored = Vec::with_capacity(events.len());
        let mut offset = log.next_offset;
        for (i, event) in events.into_iter().enumerate() {
            let size = event.message.len() as u64;
            stored.push(StoredEvent {
                sequence_number: first + i64::try_from(i).unwrap_or(i64::MAX),
                offset,
                enqueued_ms,
                partition_key: event.partition_key,
                message: event.message,
            });
            offset += size;
        }
        let Some(last) = stored.last() else {
            return Ok(first);
        };
        if let Some(journal) = &self.journal {
            lock(journal).append(&stored)?;
        }
        log.last = Some(Newest {
            sequence_number: last.sequence_number,
            offset: last.offset,
            enqueued_ms: last.enqueued_ms,
            size: last.message.len() as u64,
        });
        log.next_sequence_number = last.sequence_number + 1;
        log.next_offset = offset;
        let added: u64 = stored.iter().map(|e| e.message.len() as u64).sum();
        log.retained_bytes += added;
        log.events.extend(stored);
        let total = self.namespace_bytes.fetch_add(added, Ordering::Relaxed) + added;
        if total > self.max_namespace_bytes {
            self.evict_over_bound(&mut log, total - self.max_namespace_bytes);
        }
        let next = log.next_sequence_number;
        drop(log);
        self.appended.send_replace(next);
        Ok(first)
    }

    /// Its hub was deleted: drops every event (giving their bytes back to the namespace's bound)
    /// and refuses appends from now on. Readers still attached see an empty partition.
    pub(super) fn delete(&self) {
        let mut log = lock(&self.log);
        log.deleted = true;
        log.events.clear();
        self.namespace_bytes
            .fetch_sub(log.retained_bytes, Ordering::Relaxed);
        log.retained_bytes = 0;
    }

    /// The memory bound: drop this partition's oldest events (the one growing) until the
    /// namespace is back under the bound, keeping at least the newest event.
    fn evict_over_bound(&self, log: &mut PartitionLog, mut excess: u64) {
        while excess > 0 && log.events.len() > 1 {
            let Some(event) = log.events.pop_front() else {
                break;
            };
            let size = event.message.len() as u64;
            log.retained_bytes -= size;
            self.namespace_bytes.fetch_sub(size, Ordering::Relaxed);
            excess = excess.saturating_sub(size);
        }
    }

    /// The enqueued time of the oldest event, when there is one besides the newest.
    pub(super) fn oldest_evictable(&self) -> Option<i64> {
        let log = lock(&self.log);
        (log.events.len() > 1)
            .then(|| log.events.front().map(|e| e.enqueued_ms))
            .flatten()
    }

    /// Drops the oldest event (never the newest) for the memory bound.
    pub(super) fn evict_oldest(&self) {
        // An excess of one byte evicts exactly one event.
        self.evict_over_bound(&mut lock(&self.log), 1);
    }

    /// Drops events enqueued before `cutoff_ms`; the beginning sequence number moves past them.
    pub fn expire_before(&self, cutoff_ms: i64) -> usize {
        let mut log = lock(&self.log);
        let mut dropped = 0;
        while log
            .events
            .front()
            .is_some_and(|e| e.enqueued_ms < cutoff_ms)
        {
            if let Some(event) = log.events.pop_front() {
                let size = event.message.len() as u64;
                log.retained_bytes -= size;
                self.namespace_bytes.fetch_sub(size, Ordering::Relaxed);
                dropped += 1;
            }
        }
        dropped
    }

    #[must_use]
    pub fn info(&self) -> PartitionInfo {
        let log = lock(&self.log);
        let (last_sequence_number, last_offset, last_enqueued_ms) =
            log.last.map_or((-1, -1, 0), |n| {
                (
                    n.sequence_number,
                    i64::try_from(n.offset).unwrap_or(i64::MAX),
                    n.enqueued_ms,
                )
            });
        PartitionInfo {
            begin_sequence_number: log
                .events
                .front()
                .map_or(log.next_sequence_number, |e| e.sequence_number),
            last_sequence_number,
            last_offset,
            last_enqueued_ms,
            is_empty: log.events.is_empty(),
            retained_events: log.events.len(),
        }
    }

    /// The sequence number a reader starting at `position` reads first.
    #[must_use]
    pub fn resolve_start(&self, position: &StartPosition) -> i64 {
        let log = lock(&self.log);
        let begin = log
            .events
            .front()
            .map_or(log.next_sequence_number, |e| e.sequence_number);
        let first_matching = |pred: &dyn Fn(&StoredEvent) -> bool| -> i64 {
            let index = log.events.partition_point(|e| !pred(e));
            log.events
                .get(index)
                .map_or(log.next_sequence_number, |e| e.sequence_number)
        };
        let sequence = match position {
            StartPosition::Earliest => begin,
            StartPosition::Latest => log.next_sequence_number,
            StartPosition::SequenceNumber {
                sequence_number,
                inclusive,
            } => sequence_number + i64::from(!inclusive),
            StartPosition::Offset { offset, inclusive } => first_matching(&|e| {
                if *inclusive {
                    e.offset >= *offset
                } else {
                    e.offset > *offset
                }
            }),
            StartPosition::EnqueuedTime { unix_ms } => {
                first_matching(&|e| e.enqueued_ms > *unix_ms)
            }
        };
        sequence.clamp(begin, log.next_sequence_number)
    }

    /// Up to `max` events from `from` on; a `from` that has expired reads from the beginning.
    #[must_use]
    pub fn read(&self, from: i64, max: usize) -> Vec<StoredEvent> {
        let log = lock(&self.log);
        let Some(begin) = log.events.front().map(|e| e.sequence_number) else {
            return Vec::new();
        };
        let skip = usize::try_from(from.max(begin) - begin).unwrap_or(usize::MAX);
        log.events.iter().skip(skip).take(max).cloned().collect()
    }

    /// A receiver that changes whenever events are appended (its value: the next sequence number).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }

    /// Rewrites the journal without the events it no longer retains, once the file holds more
    /// than twice what is retained plus `slack` bytes, so the file stays proportional to
    /// retention however long the endpoint runs. The bulk is written without holding the log;
    /// appends wait only for the events appended meanwhile and the rename. Returns the bytes
    /// reclaimed.
    ///
    /// After a failure, later calls do nothing until a growing wait has passed (see `Backoff`).
    ///
    /// # Errors
    /// The journal's I/O error; the journal is then as it was.
    pub fn compact_journal(&self, slack: u64) -> Result<u64, JournalError> {
        if !lock(&self.compaction_backoff).allows(Instant::now()) {
            return Ok(0);
        }
        let result = self.compact_journal_now(slack);
        let mut backoff = lock(&self.compaction_backoff);
        match result {
            Ok(_) => backoff.succeeded(),
            Err(_) => backoff.failed(Instant::now()),
        }
        result
    }

    fn compact_journal_now(&self, slack: u64) -> Result<u64, JournalError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let started = Instant::now();
        let (snapshot, upto, path) = {
            let log = lock(&self.log);
            let journal = lock(journal);
            // Keys are left out of the estimate; they only make compaction come later.
            let retained = log.retained_bytes + log.events.len() as u64 * RECORD_OVERHEAD;
            if journal.bytes_on_disk() <= retained.saturating_mul(2).saturating_add(slack) {
                return Ok(0);
            }
            let snapshot: Vec<StoredEvent> = log.events.iter().cloned().collect();
            (
                snapshot,
                log.next_sequence_number,
                journal.path().to_owned(),
            )
        };
        let snapshot_taken = Instant::now();
        let compaction = Compaction::write(&path, &snapshot)?;
        drop(snapshot);
        let written = Instant::now();
        let log = lock(&self.log);
        let mut journal = lock(journal);
        let locked = Instant::now();
        let newer: Vec<StoredEvent> = log
            .events
            .iter()
            .skip_while(|e| e.sequence_number < upto)
            .cloned()
            .collect();
        let marker = if log.events.is_empty() {
            log.last
        } else {
            None
        };
        let before = journal.bytes_on_disk();
        let replaced = journal.replace(compaction, &newer, marker)?;
        let reclaimed = before.saturating_sub(journal.bytes_on_disk());
        let sync = journal.sync_handle();
        drop((journal, log));
        let swapped = Instant::now();
        drop(replaced);
        sync?.sync_with_directory()?;
        tracing::debug!(
            partition = %self.id,
            snapshot_ms = snapshot_taken.duration_since(started).as_millis(),
            write_ms = written.duration_since(snapshot_taken).as_millis(),
            lock_wait_ms = locked.duration_since(written).as_millis(),
            appends_held_ms = swapped.duration_since(locked).as_millis(),
            release_and_sync_ms = swapped.elapsed().as_millis(),
            "journal compacted"
        );
        Ok(reclaimed)
    }

    /// Makes journaled events durable against power loss, not just a process crash.
    ///
    /// # Errors
    /// The journal's I/O error.
    pub fn sync(&self) -> Result<(), JournalError> {
        match &self.journal {
            // Appends go on while the disk syncs.
            Some(journal) => {
                let sync = lock(journal).sync_handle()?;
                sync.sync()
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
pub(super) mod tests;
