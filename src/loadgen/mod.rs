//! The load generator: a plan ([`plan`]), its open-model schedule ([`schedule`]), the runner
//! ([`run`]) over a producer ([`sink`]: AMQP's pool or Kafka's), and its metrics.

pub mod end_to_end;
mod error;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod sink;

pub use error::LoadError;
pub use plan::{parse_rate, parse_routing, Plan, PlanError, Rate, Routing};
pub use schedule::Schedule;
pub use sink::Sink;
