//! Running a plan: a dispatcher releases events as they fall due (or keeps the pool full for
//! `max`), groups them by destination into batches, and hands each batch to a send task on the
//! pooled producer (AMQP or Kafka, [`Sink`]). Send tasks record each event's latency from its own due time. A stop ends
//! dispatching at once and waits at most a second for sends in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::end_to_end::EndToEnd;
use super::error::LoadError;
use super::metrics::{Metrics, Report};
use super::plan::{Plan, Routing};
use super::schedule::Schedule;
use super::sink::Sink;
use crate::producer::pool::PoolState;
use crate::producer::{self, OutgoingEvent, Template};

/// How often the dispatcher looks for due events.
const TICK: Duration = Duration::from_millis(5);
/// Events per batch for `max` without a batch size.
const MAX_BATCH: usize = 100;
/// How long a stop waits for sends in flight.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// How long a run that reached its end waits for its last sends (each has its own timeout).
const FINISH_GRACE: Duration = Duration::from_secs(30);

/// What a running load looks like, once a second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub elapsed_secs: f64,
    pub events_sent: u64,
    pub events_failed: u64,
    pub last_second: Option<super::metrics::SecondStats>,
    /// Every second so far, for charts.
    pub seconds: Vec<super::metrics::SecondStats>,
    pub errors: std::collections::BTreeMap<super::metrics::ErrorKind, u64>,
    pub per_destination: std::collections::BTreeMap<String, u64>,
    pub pool: PoolState,
    pub finished: bool,
}

pub struct Outcome {
    pub report: Report,
    pub metrics: Metrics,
    /// What happened that a reader of the report should know (stopped early, sends abandoned).
    pub notes: Vec<String>,
}

/// Runs `plan` to its end or until `stop`; `progress` hears once a second.
pub async fn run(
    plan: Plan,
    pool: Sink,
    partition_ids: Vec<String>,
    stop: CancellationToken,
    progress: watch::Sender<Progress>,
    end_to_end: Option<EndToEnd>,
) -> Result<Outcome, LoadError> {
    let template = plan.template.as_deref().map(Template::parse).transpose()?;
    if let super::plan::Routing::Partition { id } = &plan.routing {
        if !partition_ids.contains(id) {
            return Err(LoadError::UnknownPartition {
                id: id.clone(),
                known: partition_ids.clone(),
            });
        }
    }
    let schedule = Schedule::new(plan.rate.clone());
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let in_flight = Arc::new(Semaphore::new(
        plan.pool_size.max(1) * plan.in_flight_per_connection.max(1),
    ));
    let cap = plan.events.unwrap_or(u64::MAX);
    let start = Instant::now();
    let end = plan.duration.map(|d| start + d);
    let filler = "x".repeat(plan.event_size);
    let mut rng = fastrand::Rng::new();
    let mut next: u64 = 0;
    let mut tick = tokio::time::interval(TICK);
    let mut second =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut notes = Vec::new();
    let mut target_this_second = 0;
    loop {
        if end.is_some_and(|e| Instant::now() >= e) || next >= cap {
            break;
        }
        tokio::select! {
            () = stop.cancelled() => {
                notes.push(format!("stopped by the user after {:.1} s", start.elapsed().as_secs_f64()));
                break;
            }
            _ = second.tick() => {
                close_second(&metrics, &pool, &progress, start, std::mem::take(&mut target_this_second));
            }
            _ = tick.tick() => {
                let due = if schedule.is_max() {
                    // Keep every in-flight slot busy: one batch per free permit.
                    let batch = plan.batch_size.unwrap_or(MAX_BATCH) as u64;
                    (next + batch * in_flight.available_permits() as u64).min(cap)
                } else {
                    let elapsed = start.elapsed();
                    let due = schedule.due_by(elapsed, next, cap);
                    if due == next && schedule.due(next).is_none() {
                        notes.push("the plan's rate steps ended".into());
                        break;
                    }
                    due
                };
                target_this_second += due - next;
                let maker = EventMaker { plan: &plan, schedule: &schedule, template: template.as_ref(), filler: &filler, partition_ids: &partition_ids, start, end_to_end: end_to_end.as_ref() };
                let batches = maker.batches(next, due, &mut rng);
                next = due;
                for batch in batches {
                    // A stalled endpoint holds every permit; a stop must still get through.
                    let permit = tokio::select! {
                        () = stop.cancelled() => break,
                        permit = in_flight.clone().acquire_owned() => permit,
                    };
                    let Ok(permit) = permit else { break };
                    tokio::spawn(send_batch(pool.clone(), metrics.clone(), batch, permit));
                }
            }
        }
    }
    let dispatched_for = start.elapsed();
    if !wait_for_sends(&plan, &in_flight, stop.is_cancelled()).await {
        notes.push(
            "some sends were still in flight when the run ended; they are not counted as sent"
                .into(),
        );
    }
    let (mut report, metrics) = {
        let mut m = lock(&metrics);
        m.close_second(target_this_second);
        (m.report(&plan, dispatched_for), std::mem::take(&mut *m))
    };
    if let Some(e2e) = end_to_end {
        report.end_to_end = Some(e2e.finish(report.events_sent).await);
    }
    // The last word is the report's: totals as counted at the end, not at the last tick.
    progress.send_replace(Progress {
        finished: true,
        ..progress_of(&metrics, start, pool.state())
    });
    Ok(Outcome {
        report,
        metrics,
        notes,
    })
}

/// Waits for sends in flight (a second after a stop, longer after a natural end); `false` if
/// some were still out when the wait ended.
async fn wait_for_sends(plan: &Plan, in_flight: &Semaphore, stopped: bool) -> bool {
    let all = u32::try_from(plan.pool_size.max(1) * plan.in_flight_per_connection.max(1))
        .unwrap_or(u32::MAX);
    let grace = if stopped { STOP_GRACE } else { FINISH_GRACE };
    tokio::time::timeout(grace, in_flight.acquire_many(all))
        .await
        .is_ok()
}

/// Builds the events `from..to` and groups them into batches by destination.
struct EventMaker<'a> {
    plan: &'a Plan,
    schedule: &'a Schedule,
    template: Option<&'a Template>,
    filler: &'a str,
    partition_ids: &'a [String],
    start: Instant,
    end_to_end: Option<&'a EndToEnd>,
}

type Batch = Vec<(OutgoingEvent, Instant)>;

impl EventMaker<'_> {
    fn batches(&self, from: u64, to: u64, rng: &mut fastrand::Rng) -> Vec<Batch> {
        let mut batches: Vec<(producer::Routing, Batch)> = Vec::new();
        for i in from..to {
            // For `max` an event is due when it is made; otherwise when the schedule says.
            let due_at = if self.schedule.is_max() {
                Instant::now()
            } else {
                self.start + self.schedule.due(i).unwrap_or_default()
            };
            let body = self
                .template
                .map_or_else(|| self.filler.to_string(), |t| t.render(i, rng));
            let routing = route(&self.plan.routing, i, self.partition_ids, rng);
            let mut event = OutgoingEvent {
                routing: routing.clone(),
                ..OutgoingEvent::text(body)
            };
            if let Some(e2e) = self.end_to_end {
                e2e.stamp(&mut event);
            }
            let open = batches.iter_mut().find(|(r, events)| {
                *r == routing && self.plan.batch_size.is_none_or(|b| events.len() < b)
            });
            match open {
                Some((_, events)) => events.push((event, due_at)),
                None => batches.push((routing, vec![(event, due_at)])),
            }
        }
        batches.into_iter().map(|(_, b)| b).collect()
    }
}

/// Sends one batch and records each event's latency from its due time, or the failure.
async fn send_batch(
    pool: Sink,
    metrics: Arc<Mutex<Metrics>>,
    batch: Batch,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let destination = match batch.first().map(|(e, _)| &e.routing) {
        Some(producer::Routing::Partition(id)) => id.clone(),
        Some(producer::Routing::Key(key)) => format!("key {key}"),
        _ => "spread".to_string(),
    };
    let (events, dues): (Vec<OutgoingEvent>, Vec<Instant>) = batch.into_iter().unzip();
    let bytes: u64 = events.iter().map(|e| e.body.len() as u64).sum();
    let sent_at = Instant::now();
    let outcome = pool.send(&events).await;
    let acked = Instant::now();
    let mut m = lock(&metrics);
    match outcome {
        Ok(()) => {
            m.acknowledged(dues.iter().map(|d| acked - *d), acked - sent_at, bytes);
            m.count_destination(&destination, events.len() as u64);
        }
        Err(e) => m.failed(&e.to_string(), events.len() as u64),
    }
    drop(permit);
}

/// Closes a second of metrics, publishes progress, and lets the pool close idle connections.
fn close_second(
    metrics: &Mutex<Metrics>,
    pool: &Sink,
    progress: &watch::Sender<Progress>,
    start: Instant,
    target_events: u64,
) {
    let state = pool.state();
    let mut m = lock(metrics);
    m.close_second(target_events);
    progress.send_replace(progress_of(&m, start, state));
    drop(m);
    let pool = pool.clone();
    tokio::spawn(async move { pool.close_idle().await });
}

fn progress_of(m: &Metrics, start: Instant, pool: PoolState) -> Progress {
    Progress {
        elapsed_secs: start.elapsed().as_secs_f64(),
        events_sent: m.seconds.iter().map(|s| s.sent_events).sum(),
        events_failed: m.seconds.iter().map(|s| s.failed_events).sum(),
        last_second: m.seconds.last().cloned(),
        seconds: m.seconds.clone(),
        errors: m.errors.clone(),
        per_destination: m.per_destination.clone(),
        pool,
        finished: false,
    }
}

fn lock(metrics: &Mutex<Metrics>) -> std::sync::MutexGuard<'_, Metrics> {
    metrics
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn route(
    routing: &Routing,
    i: u64,
    partition_ids: &[String],
    rng: &mut fastrand::Rng,
) -> producer::Routing {
    match routing {
        Routing::Spread => producer::Routing::Spread,
        Routing::Partition { id } => producer::Routing::Partition(id.clone()),
        Routing::RoundRobin => {
            let index = usize::try_from(i % partition_ids.len().max(1) as u64).unwrap_or(0);
            partition_ids
                .get(index)
                .map_or(producer::Routing::Spread, |id| {
                    producer::Routing::Partition(id.clone())
                })
        }
        Routing::Keys { count, hot_share } => {
            let hot = hot_share.is_some_and(|p| rng.f64() < p);
            let key = if hot { 0 } else { rng.u32(0..*count) };
            producer::Routing::Key(format!("key-{key}"))
        }
    }
}
