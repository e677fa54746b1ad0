//! The load generator: a plan ([`plan`]), its open-model schedule ([`schedule`]), and (to come)
//! the runner over the pooled producer and its metrics.

pub mod end_to_end;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod schedule;

pub use plan::{parse_rate, parse_routing, Plan, Rate, Routing};
pub use schedule::Schedule;
