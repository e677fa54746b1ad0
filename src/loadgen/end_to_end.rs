//! End-to-end mode: each event is stamped with the run's id and its send time, readers on every
//! partition (attached before the first send) read them back, and the produce → consume latency
//! is reported per partition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::LoadError;
use super::metrics::{EndToEndReport, Percentiles};
use crate::consumer::{spawn_reader, ReaderHandle, ReaderSpec, ReaderState, StartFrom};
use crate::hub::Target;
use crate::producer::{OutgoingEvent, PropertyValue};

pub const RUN_PROPERTY: &str = "hubscope_run";
pub const SENT_PROPERTY: &str = "hubscope_sent_us";
/// How long readers may take to attach before the run starts.
const ATTACH_WITHIN: Duration = Duration::from_secs(15);
/// How long to wait for the last events to come back after the run.
const DRAIN_WITHIN: Duration = Duration::from_secs(5);

type Histograms = Arc<Mutex<BTreeMap<String, Histogram<u64>>>>;

pub struct EndToEnd {
    run_id: String,
    readers: Vec<ReaderHandle>,
    received: Arc<AtomicU64>,
    histograms: Histograms,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl EndToEnd {
    /// Starts readers on `partitions` just after each one's last enqueued event (an explicit
    /// sequence number: with `latest`, or a time, the first events of a run were missed, 22 to
    /// 45 of 1,000), and waits until they are attached.
    pub async fn start(target: &Target, partitions: &[String]) -> Result<Self, LoadError> {
        let (tx, mut rx) = mpsc::channel(8192);
        let client = crate::hub::within(
            "connect",
            crate::hub::DEFAULT_TIMEOUT,
            target.open_consumer(),
        )
        .await
        .map_err(|e| LoadError::ReadersConnect(e.to_string()))?;
        let mut starts = Vec::new();
        for id in partitions {
            let props = tokio::time::timeout(
                crate::hub::DEFAULT_TIMEOUT,
                client.get_partition_properties(id),
            )
            .await
            .map_err(|_| reader_error(id, "no answer"))?
            .map_err(|e| reader_error(id, e))?;
            starts.push(if props.is_empty {
                StartFrom::Earliest
            } else {
                StartFrom::SequenceNumber(props.last_enqueued_sequence_number + 1)
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        let readers: Vec<ReaderHandle> = partitions
            .iter()
            .zip(starts)
            .map(|(id, start)| {
                spawn_reader(
                    target.clone(),
                    ReaderSpec {
                        partition_id: id.clone(),
                        start,
                        owner_level: None,
                        prefetch: None,
                    },
                    tx.clone(),
                )
            })
            .collect();
        drop(tx);
        let deadline = tokio::time::Instant::now() + ATTACH_WITHIN;
        for reader in &readers {
            let mut state = reader.state.clone();
            loop {
                let now = state.borrow().clone();
                match now {
                    ReaderState::Receiving | ReaderState::Idle => break,
                    s if s.is_final() => return Err(reader_error(&reader.partition_id, s)),
                    _ => {}
                }
                if tokio::time::timeout_at(deadline, state.changed())
                    .await
                    .is_err()
                {
                    return Err(reader_error(
                        &reader.partition_id,
                        format!("the reader did not attach in time ({now})"),
                    ));
                }
            }
        }
        let run_id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
            .into_uuid()
            .to_string();
        let received = Arc::new(AtomicU64::new(0));
        let histograms: Histograms = Arc::default();
        let (id, count, hists) = (run_id.clone(), received.clone(), histograms.clone());
        tokio::spawn(async move {
            while let Some(record) = rx.recv().await {
                if record.properties.get(RUN_PROPERTY) != Some(&Value::String(id.clone())) {
                    continue;
                }
                let Some(sent) = record.properties.get(SENT_PROPERTY).and_then(Value::as_i64)
                else {
                    continue;
                };
                let latency_us = u64::try_from(now_us() - sent).unwrap_or(0).max(1);
                if let Ok(mut h) = hists.lock() {
                    let histogram = h.entry(record.partition_id.clone()).or_insert_with(|| {
                        Histogram::new_with_bounds(1, 3_600_000_000, 3)
                            .expect("1 µs to 1 h at 3 digits are valid bounds")
                    });
                    let _ = histogram.record(latency_us.min(3_600_000_000));
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            run_id,
            readers,
            received,
            histograms,
        })
    }

    /// Marks an event as this run's, sent now.
    pub fn stamp(&self, event: &mut OutgoingEvent) {
        event.properties.push((
            RUN_PROPERTY.into(),
            PropertyValue::String(self.run_id.clone()),
        ));
        event
            .properties
            .push((SENT_PROPERTY.into(), PropertyValue::Int(now_us())));
    }

    /// Waits (a few seconds at most) for `expected` events to come back, then reports.
    pub async fn finish(self, expected: u64) -> EndToEndReport {
        let deadline = tokio::time::Instant::now() + DRAIN_WITHIN;
        while self.received.load(Ordering::Relaxed) < expected
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for reader in &self.readers {
            reader.stop();
        }
        #[allow(clippy::cast_precision_loss)]
        let ms = |us: u64| us as f64 / 1000.0;
        let per_partition_ms = self
            .histograms
            .lock()
            .map(|h| {
                h.iter()
                    .map(|(p, h)| {
                        (
                            p.clone(),
                            Percentiles {
                                p50: ms(h.value_at_quantile(0.5)),
                                p90: ms(h.value_at_quantile(0.9)),
                                p99: ms(h.value_at_quantile(0.99)),
                                p999: ms(h.value_at_quantile(0.999)),
                                max: ms(h.max()),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        EndToEndReport {
            received: self.received.load(Ordering::Relaxed),
            per_partition_ms,
        }
    }
}

/// One partition's reader could not be placed or did not attach.
fn reader_error(partition: &str, why: impl std::fmt::Display) -> LoadError {
    LoadError::Reader {
        partition: partition.to_owned(),
        why: why.to_string(),
    }
}
