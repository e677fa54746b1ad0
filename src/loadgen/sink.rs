//! Where a load goes: the pooled AMQP producer, or Kafka producers on the same hub, behind one
//! send so that a plan, its metrics and its report are the same for both.

use std::sync::Arc;

use crate::kafka::{KafkaError, KafkaProducer};
use crate::producer::pool::{PoolState, ProducerPool};
use crate::producer::{OutgoingEvent, Packing, SendError};

#[derive(Clone)]
pub enum Sink {
    Amqp(Arc<ProducerPool>),
    Kafka(Arc<KafkaProducer>),
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Amqp(#[from] SendError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

impl Sink {
    /// Sends one batch (one destination) and waits for its acknowledgement.
    ///
    /// # Errors
    /// The producer's error for a refused, failed or timed-out send.
    pub async fn send(&self, events: &[OutgoingEvent]) -> Result<(), SinkError> {
        match self {
            Self::Amqp(pool) => pool.send(events, Packing::Batches).await.map(drop)?,
            Self::Kafka(producer) => producer.send(events).await?,
        }
        Ok(())
    }

    #[must_use]
    pub fn state(&self) -> PoolState {
        match self {
            Self::Amqp(pool) => pool.state(),
            Self::Kafka(producer) => producer.state(),
        }
    }

    /// Lets the AMQP pool close connections idle past its timeout (Kafka's stay open).
    pub async fn close_idle(&self) {
        if let Self::Amqp(pool) = self {
            pool.close_idle().await;
        }
    }
}
