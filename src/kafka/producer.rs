//! The load generator's Kafka producer: a few signed-in connections ([`KafkaClient`]'s), each
//! with several Produce requests in flight, as Kafka producers pipeline them
//! (`max.in.flight.requests.per.connection`). A batch of events is one Produce request to one
//! partition with `acks=all`; [`KafkaProducer::send`] returns on the broker's answer, so latency
//! is measured to the acknowledgement as it is for AMQP. A connection that fails is dropped and
//! the next send on its slot opens a new one.
//!
//! Where the events go, as Kafka producers decide it: a partition when one is named; for a key,
//! Kafka's default partitioner (murmur2 of the key, as the Java client and kafkajs hash it); for
//! neither, the partitions in turn. Requests go to the bootstrap broker: the service's Kafka
//! endpoint (and hubscope's) is one broker that leads every partition.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::{oneshot, RwLock, Semaphore};

use super::client::{self, Stream};
use super::{KafkaAccess, KafkaClient, KafkaError};
use crate::producer::pool::PoolState;
use crate::producer::{OutgoingEvent, PropertyValue, Routing};

/// Produce v7: no tagged fields, understood by the service and by every broker since Kafka 2.1.
const PRODUCE_VERSION: i16 = 7;

/// The codecs a Kafka producer may compress with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaCompression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<KafkaCompression> for Compression {
    fn from(c: KafkaCompression) -> Self {
        match c {
            KafkaCompression::None => Self::None,
            KafkaCompression::Gzip => Self::Gzip,
            KafkaCompression::Snappy => Self::Snappy,
            KafkaCompression::Lz4 => Self::Lz4,
            KafkaCompression::Zstd => Self::Zstd,
        }
    }
}

/// How the producer is set up.
#[derive(Debug, Clone)]
pub struct KafkaProducerConfig {
    pub topic: String,
    pub partitions: usize,
    pub connections: usize,
    pub in_flight_per_connection: usize,
    /// Each connection's opening, and each send.
    pub timeout: Duration,
    pub compression: KafkaCompression,
}

type Waiter = oneshot::Sender<Result<Bytes, KafkaError>>;

/// One signed-in connection with requests in flight: answers come back in order, so each is
/// handed to the oldest waiter (and its correlation id checked when it is decoded).
struct Pipeline {
    writer: tokio::sync::Mutex<WriteHalf<Box<dyn Stream>>>,
    waiting: Arc<Mutex<VecDeque<Waiter>>>,
    next_correlation: AtomicI32,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

struct Slot {
    permits: Semaphore,
    pipeline: RwLock<Option<Arc<Pipeline>>>,
}

/// Connections to one topic, with sends in flight on each.
pub struct KafkaProducer {
    access: KafkaAccess,
    config: KafkaProducerConfig,
    slots: Vec<Slot>,
    next_slot: AtomicUsize,
    next_partition: AtomicUsize,
    opened: AtomicU64,
    discarded: AtomicU64,
}

impl KafkaProducer {
    /// Opens every connection (connection set-up is not part of a load).
    ///
    /// # Errors
    /// [`KafkaError`] when the endpoint cannot be reached or refuses the credentials.
    pub async fn connect(
        access: KafkaAccess,
        config: KafkaProducerConfig,
    ) -> Result<Self, KafkaError> {
        let slots = (0..config.connections.max(1))
            .map(|_| Slot {
                permits: Semaphore::new(config.in_flight_per_connection.max(1)),
                pipeline: RwLock::new(None),
            })
            .collect();
        let producer = Self {
            access,
            config,
            slots,
            next_slot: AtomicUsize::new(0),
            next_partition: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        };
        for slot in &producer.slots {
            producer.pipeline(slot).await?;
        }
        Ok(producer)
    }

    /// Sends `events` (one destination: the load generator batches by routing) as one Produce
    /// request, and waits for the broker's acknowledgement.
    ///
    /// # Errors
    /// [`KafkaError::Refused`] with Kafka's error, `Timeout`, `Connect` or `Protocol`.
    pub async fn send(&self, events: &[OutgoingEvent]) -> Result<(), KafkaError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let partition = self.partition_for(&first.routing)?;
        let request = self.request(events, partition)?;
        let index = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[index];
        let _permit = slot.permits.acquire().await.map_err(|_| self.closed())?;
        let pipeline = self.pipeline(slot).await?;
        let outcome = self.produce(&pipeline, &request).await;
        if outcome.is_err() && pipeline.broken.load(Ordering::Relaxed) {
            let mut current = slot.pipeline.write().await;
            if current.as_ref().is_some_and(|p| Arc::ptr_eq(p, &pipeline)) {
                *current = None;
                self.discarded.fetch_add(1, Ordering::Relaxed);
                pipeline.close().await;
            }
        }
        let response = outcome?;
        for topic in &response.responses {
            for answer in &topic.partition_responses {
                if answer.error_code != 0 {
                    return Err(client::refusal(
                        &self.access.endpoint(),
                        "Produce",
                        answer.error_code,
                        answer.error_message.as_ref(),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn produce(
        &self,
        pipeline: &Pipeline,
        request: &ProduceRequest,
    ) -> Result<ProduceResponse, KafkaError> {
        let endpoint = self.access.endpoint();
        let correlation = pipeline.next_correlation.fetch_add(1, Ordering::Relaxed);
        let frame = client::request_frame(
            &endpoint,
            ApiKey::Produce,
            PRODUCE_VERSION,
            correlation,
            request,
        )?;
        let (tx, rx) = oneshot::channel();
        let timeout = self.config.timeout;
        let sent = tokio::time::timeout(timeout, async {
            // The writer's lock orders waiters as the frames go out.
            let mut writer = pipeline.writer.lock().await;
            lock(&pipeline.waiting).push_back(tx);
            writer.write_all(&frame).await?;
            writer.flush().await
        })
        .await;
        let timed_out = || KafkaError::Timeout {
            endpoint: endpoint.clone(),
            secs: timeout.as_secs(),
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                pipeline.broken.store(true, Ordering::Relaxed);
                return Err(KafkaError::Connect {
                    endpoint,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                pipeline.broken.store(true, Ordering::Relaxed);
                return Err(timed_out());
            }
        }
        let answer = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer?,
            Ok(Err(_)) => return Err(self.closed()),
            Err(_) => {
                // Its answer may still come; the connection cannot be trusted to pair them.
                pipeline.broken.store(true, Ordering::Relaxed);
                return Err(timed_out());
            }
        };
        client::decode_answer(
            &endpoint,
            answer,
            ApiKey::Produce,
            PRODUCE_VERSION,
            correlation,
        )
    }

    /// The slot's connection, opened (again) when it has none or it broke.
    async fn pipeline(&self, slot: &Slot) -> Result<Arc<Pipeline>, KafkaError> {
        if let Some(p) = slot.pipeline.read().await.as_ref() {
            if !p.broken.load(Ordering::Relaxed) {
                return Ok(p.clone());
            }
        }
        let mut current = slot.pipeline.write().await;
        if let Some(p) = current.as_ref() {
            if !p.broken.load(Ordering::Relaxed) {
                return Ok(p.clone());
            }
        }
        let client = KafkaClient::connect(&self.access, self.config.timeout).await?;
        let (reader, writer) = tokio::io::split(client.into_stream());
        let pipeline = Arc::new(Pipeline {
            writer: tokio::sync::Mutex::new(writer),
            waiting: Arc::new(Mutex::new(VecDeque::new())),
            next_correlation: AtomicI32::new(1),
            broken: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        });
        tokio::spawn(read_answers(
            reader,
            pipeline.waiting.clone(),
            pipeline.broken.clone(),
            self.access.endpoint(),
        ));
        self.opened.fetch_add(1, Ordering::Relaxed);
        *current = Some(pipeline.clone());
        Ok(pipeline)
    }

    fn request(
        &self,
        events: &[OutgoingEvent],
        partition: i32,
    ) -> Result<ProduceRequest, KafkaError> {
        // One clock reading per batch: its records are created together.
        let now = now_ms();
        let records: Vec<Record> = events.iter().map(|e| record(e, now)).collect();
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: self.config.compression.into(),
        };
        RecordBatchEncoder::encode(&mut batch, &records, &options).map_err(|e| {
            KafkaError::Protocol {
                endpoint: self.access.endpoint(),
                reason: format!("a record batch could not be encoded: {e}"),
            }
        })?;
        Ok(ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(i32::try_from(self.config.timeout.as_millis()).unwrap_or(i32::MAX))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(self.config.topic.clone())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.freeze()))])]))
    }

    fn partition_for(&self, routing: &Routing) -> Result<i32, KafkaError> {
        let partitions = self.config.partitions.max(1);
        let index = match routing {
            Routing::Partition(id) => id
                .parse::<usize>()
                .ok()
                .filter(|p| *p < partitions)
                .ok_or_else(|| {
                    KafkaError::Profile(format!(
                        "partition `{id}` is not one of the hub's {partitions}"
                    ))
                })?,
            Routing::Key(key) => key_partition(key.as_bytes(), partitions),
            Routing::Spread | Routing::RoundRobin => {
                self.next_partition.fetch_add(1, Ordering::Relaxed) % partitions
            }
        };
        Ok(i32::try_from(index).unwrap_or(i32::MAX))
    }

    /// The connections as the load generator's progress shows them.
    #[must_use]
    pub fn state(&self) -> PoolState {
        let mut state = PoolState {
            opened_total: self.opened.load(Ordering::Relaxed),
            discarded_total: self.discarded.load(Ordering::Relaxed),
            ..PoolState::default()
        };
        let room = self.config.in_flight_per_connection.max(1);
        for slot in &self.slots {
            let open = slot.pipeline.try_read().map_or(true, |p| {
                p.as_ref()
                    .is_some_and(|p| !p.broken.load(Ordering::Relaxed))
            });
            match (open, slot.permits.available_permits() < room) {
                (false, _) => state.opening += 1,
                (true, true) => state.busy += 1,
                (true, false) => state.ready += 1,
            }
        }
        state
    }

    /// Closes every connection (their readers end when the broker closes its side).
    pub async fn close(&self) {
        for slot in &self.slots {
            if let Some(pipeline) = slot.pipeline.write().await.take() {
                pipeline.close().await;
            }
        }
    }

    fn closed(&self) -> KafkaError {
        KafkaError::Connect {
            endpoint: self.access.endpoint(),
            reason: "the connection closed".into(),
        }
    }
}

impl Pipeline {
    async fn close(&self) {
        self.broken.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            self.writer.lock().await.shutdown().await
        })
        .await;
    }
}

/// Hands each answer to the oldest waiter; at the first read error every waiter hears it.
async fn read_answers(
    mut reader: ReadHalf<Box<dyn Stream>>,
    waiting: Arc<Mutex<VecDeque<Waiter>>>,
    broken: Arc<std::sync::atomic::AtomicBool>,
    endpoint: String,
) {
    loop {
        match client::read_answer(&mut reader).await {
            Ok(answer) => {
                let Some(waiter) = lock(&waiting).pop_front() else {
                    // An answer nobody asked for: the pairing is lost.
                    break;
                };
                let _ = waiter.send(Ok(answer));
            }
            Err(e) => {
                broken.store(true, Ordering::Relaxed);
                for waiter in lock(&waiting).drain(..) {
                    let _ = waiter.send(Err(KafkaError::Connect {
                        endpoint: endpoint.clone(),
                        reason: e.to_string(),
                    }));
                }
                return;
            }
        }
    }
    broken.store(true, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kafka's default partitioner: the positive murmur2 hash of the key, modulo the partitions.
#[must_use]
pub fn key_partition(key: &[u8], partitions: usize) -> usize {
    let hash = murmur2::murmur2(key, murmur2::KAFKA_SEED) & 0x7fff_ffff;
    usize::try_from(hash).unwrap_or(0) % partitions.max(1)
}

/// An event as a Kafka record: its body the value, its key the partition key, its properties
/// headers (as text), the producer's clock the timestamp.
fn record(event: &OutgoingEvent, timestamp: i64) -> Record {
    let key = match &event.routing {
        Routing::Key(key) => Some(Bytes::copy_from_slice(key.as_bytes())),
        _ => None,
    };
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key,
        value: Some(Bytes::copy_from_slice(&event.body)),
        headers: event
            .properties
            .iter()
            .map(|(name, value)| {
                (
                    StrBytes::from_string(name.clone()),
                    Some(Bytes::from(header_value(value))),
                )
            })
            .collect(),
    }
}

fn header_value(value: &PropertyValue) -> String {
    match value {
        PropertyValue::String(s) => s.clone(),
        PropertyValue::Int(i) => i.to_string(),
        PropertyValue::Float(f) => f.to_string(),
        PropertyValue::Bool(b) => b.to_string(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_where_kafkas_default_partitioner_puts_them() {
        // murmur2 vectors from Kafka's own `UtilsTest.testMurmur2` (kafka-python agrees).
        for (key, hash) in [
            ("21", -973_932_308_i32),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ] {
            let expected = usize::try_from(hash & 0x7fff_ffff).unwrap_or(0);
            assert_eq!(key_partition(key.as_bytes(), 1 << 31), expected, "{key}");
        }
    }
}
