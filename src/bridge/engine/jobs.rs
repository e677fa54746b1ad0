//! The engine's longer jobs: sends, live views and load runs. Each runs
//! in its own task and reports back with [`Event`]s; none holds the engine's loop.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{send_event, Engine};
use crate::bridge::{Event, LiveHandle, LoadResult, Notice, TaskProgress};
use crate::consumer::filter::EventFilter;
use crate::consumer::live::{self, LiveConfig, LiveSession};
use crate::consumer::ReaderState;
use crate::hub::Target;
use crate::loadgen::{self, end_to_end::EndToEnd, run::Progress, LoadError, Plan};
use crate::producer::pool::{PoolConfig, ProducerPool};
use crate::producer::{self, Packing, SendReceipt, SendSource};

impl Engine {
    /// Opens a producer for this one send and closes it after; the pooled producer (the load
    /// generator's) will take this over.
    pub(super) fn spawn_send(
        &mut self,
        request_id: u64,
        source: SendSource,
        packing: Packing,
        partition_ids: Vec<String>,
    ) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        if self.composer_pool.is_none() {
            self.composer_pool = self.connected.clone().map(|target| {
                ProducerPool::new(
                    target,
                    PoolConfig {
                        connections: 1,
                        ..PoolConfig::default()
                    },
                )
            });
        }
        let pool = self.composer_pool.clone();
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            let error = match pool {
                None => Some("not connected: connect to a profile first".to_string()),
                Some(pool) => {
                    let progress = SendProgress::new(&events, &waker);
                    send_from(
                        &pool,
                        source,
                        packing,
                        &partition_ids,
                        &mut receipts,
                        progress,
                    )
                    .await
                    .err()
                }
            };
            send_event(
                &events,
                &waker,
                Event::SendFinished {
                    request_id,
                    receipts,
                    error,
                },
            );
        });
    }

    pub(super) fn start_live(&mut self, config: &LiveConfig) {
        self.live = None;
        let Some(target) = &self.connected else {
            self.notify(Notice::error("No live view", "connect to a profile first"));
            return;
        };
        let mut target = target.clone();
        if let Some(group) = config.consumer_group.as_ref().filter(|g| !g.is_empty()) {
            target.consumer_group.clone_from(group);
        }
        let filter = match EventFilter::new(&config.jq, &config.text) {
            Ok(filter) => filter,
            Err(e) => {
                send_event(&self.events, &self.waker, Event::LiveFilterRejected(e));
                return;
            }
        };
        let waker = self.waker.clone();
        let session = LiveSession::start(
            &target,
            &config.partitions,
            config,
            filter,
            Arc::new(move || waker()),
        );
        let handle = LiveHandle {
            store: session.store.clone(),
            snapshot: session.snapshot.clone(),
        };
        tokio::spawn(tell_failures(
            session.snapshot.clone(),
            self.events.clone(),
            self.waker.clone(),
        ));
        self.live = Some(session);
        send_event(&self.events, &self.waker, Event::LiveStarted(handle));
    }

    /// Compiles the filter and refilters what is kept off the runtime's async threads; the
    /// store's lock is held only to swap filters and results, never while filtering.
    pub(super) fn spawn_live_filter(&self, jq: &str, text: &str) {
        let Some(live) = &self.live else { return };
        let filter = match EventFilter::new(jq, text) {
            Ok(filter) => filter,
            Err(e) => {
                send_event(&self.events, &self.waker, Event::LiveFilterRejected(e));
                return;
            }
        };
        let store = live.store.clone();
        let waker = self.waker.clone();
        tokio::task::spawn_blocking(move || {
            let (kept, filter) = live::lock(&store).begin_refilter(filter);
            let matched = kept.into_iter().filter(|r| filter.matches(r)).collect();
            live::lock(&store).finish_refilter(matched);
            waker();
        });
    }

    pub(super) fn start_load(&mut self, plan: Plan, partition_ids: Vec<String>, end_to_end: bool) {
        if let Some(previous) = self.load.take() {
            previous.cancel();
        }
        let Some(target) = self.connected.clone() else {
            send_event(
                &self.events,
                &self.waker,
                Event::LoadFinished(Err(LoadError::NotConnected)),
            );
            return;
        };
        let stop = CancellationToken::new();
        self.load = Some(stop.clone());
        let (progress, watch_progress) = watch::channel(Progress::default());
        send_event(
            &self.events,
            &self.waker,
            Event::LoadStarted(watch_progress),
        );
        let (events, waker) = (self.events.clone(), self.waker.clone());
        let last_load = self.last_load.clone();
        let ticker = self.waker.clone();
        let mut seen = progress.subscribe();
        tokio::spawn(async move {
            // Each second's progress wakes the UI.
            while seen.changed().await.is_ok() {
                ticker();
            }
        });
        let e2e_target = target.clone();
        tokio::spawn(async move {
            // The hub's own count of what each partition received, from before and after.
            let before = crate::hub::probe(&target, crate::hub::DEFAULT_TIMEOUT)
                .await
                .ok();
            let counter = target.clone();
            let pool = ProducerPool::new(target, plan.pool_config());
            let outcome = prepare_and_run(
                plan,
                &pool,
                partition_ids,
                stop,
                progress,
                end_to_end.then_some(&e2e_target),
            )
            .await;
            pool.close().await;
            let after = crate::hub::probe(&counter, crate::hub::DEFAULT_TIMEOUT)
                .await
                .ok();
            let per_partition = match (before, after) {
                (Some(before), Some(after)) => after.hub.enqueued_since(&before.hub),
                _ => Vec::new(),
            };
            let result = outcome.map(|o| {
                Box::new(LoadResult {
                    per_partition,
                    csv: o.metrics.seconds_csv(),
                    histogram: o.metrics.hdr_base64(),
                    report: o.report,
                    notes: o.notes,
                })
            });
            if let (Ok(result), Ok(mut last)) = (&result, last_load.lock()) {
                *last = Some(result.clone());
            }
            send_event(&events, &waker, Event::LoadFinished(result));
        });
    }
}

/// Loads the events, then sends them through the composer's pool, telling the status bar how
/// far a long send has come.
async fn send_from(
    pool: &ProducerPool,
    source: SendSource,
    packing: Packing,
    partition_ids: &[String],
    receipts: &mut Vec<SendReceipt>,
    mut progress: SendProgress<'_>,
) -> Result<(), String> {
    let loaded = tokio::task::spawn_blocking(move || source.load())
        .await
        .map_err(|e| e.to_string())?;
    let batch = loaded.map_err(|e| e.to_string())?;
    producer::check(&batch, partition_ids).map_err(|e| e.to_string())?;
    progress.total = batch.len() as u64;
    let sent = pool
        .send_described(&batch, partition_ids, packing, |r| progress.sent(r.events))
        .await;
    progress.finish();
    receipts.extend(sent.map_err(|e| e.to_string())?);
    Ok(())
}

/// A composer send's progress, at most four times a second.
struct SendProgress<'a> {
    events: &'a tokio::sync::mpsc::Sender<Event>,
    waker: &'a crate::bridge::Waker,
    total: u64,
    done: u64,
    last: std::time::Instant,
}

impl<'a> SendProgress<'a> {
    const TASK: &'static str = "Sending events";

    fn new(events: &'a tokio::sync::mpsc::Sender<Event>, waker: &'a crate::bridge::Waker) -> Self {
        Self {
            events,
            waker,
            total: 0,
            done: 0,
            last: std::time::Instant::now(),
        }
    }

    fn sent(&mut self, events: usize) {
        self.done += events as u64;
        if self.last.elapsed() >= std::time::Duration::from_millis(250) {
            self.last = std::time::Instant::now();
            self.tell(self.done);
        }
    }

    /// Ends the bar, whether or not everything went.
    fn finish(&self) {
        self.tell(self.total);
    }

    fn tell(&self, done: u64) {
        let progress = TaskProgress {
            task: Self::TASK,
            done,
            total: self.total,
        };
        send_event(self.events, self.waker, Event::Progress(progress));
    }
}

/// Opens the pool (and, for end-to-end runs, the readers) before the clock starts, then runs.
async fn prepare_and_run(
    plan: Plan,
    pool: &Arc<ProducerPool>,
    partition_ids: Vec<String>,
    stop: CancellationToken,
    progress: watch::Sender<Progress>,
    end_to_end: Option<&Target>,
) -> Result<loadgen::run::Outcome, LoadError> {
    Box::pin(pool.warm_up(&partition_ids))
        .await
        .map_err(|e| LoadError::Pool(e.to_string()))?;
    let e2e = match end_to_end {
        Some(target) => Some(EndToEnd::start(target, &partition_ids).await?),
        None => None,
    };
    loadgen::run::run(
        plan,
        loadgen::Sink::Amqp(pool.clone()),
        partition_ids,
        stop,
        progress,
        e2e,
    )
    .await
}

/// Records in the notification history why readers stopped for good (an unknown consumer group,
/// say), once per reason, until the live view ends.
async fn tell_failures(
    mut snapshot: watch::Receiver<live::LiveSnapshot>,
    events: tokio::sync::mpsc::Sender<Event>,
    waker: crate::bridge::Waker,
) {
    let mut told: Vec<String> = Vec::new();
    while snapshot.changed().await.is_ok() {
        let failed: Vec<String> = snapshot
            .borrow_and_update()
            .states
            .iter()
            .filter_map(|(_, state)| match state {
                ReaderState::Failed(why) => Some(why.clone()),
                _ => None,
            })
            .collect();
        for why in failed {
            if !told.contains(&why) {
                let notice = Notice::error("The live view stopped reading", why.clone());
                send_event(&events, &waker, Event::Notice(notice));
                told.push(why);
            }
        }
    }
}
