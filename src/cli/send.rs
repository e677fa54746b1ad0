//! `hubscope send`: one event, an event N times from a template, a file of bodies, or a replay of
//! an export. Everything is read and checked before the first publish; each publish prints a
//! line; a failure says how many events had gone out.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use hubscope::hub::{self, HubError};
use hubscope::producer::{self, parse_property, OutgoingEvent, Packing, Routing, SendSource};

use super::target::TargetArgs;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["body", "file", "replay"])))]
pub struct SendArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Send to this partition.
    #[arg(long, conflicts_with = "partition_key")]
    partition_id: Option<String>,
    /// Send with this partition key (the service hashes it to a partition).
    #[arg(long)]
    partition_key: Option<String>,
    /// Deal the events over the hub's partitions in turn, one publish per partition (without
    /// it, the service picks one partition per publish: a batch goes whole to one).
    #[arg(long, conflicts_with_all = ["partition_id", "partition_key"])]
    round_robin: bool,
    /// An application property: KEY=VALUE (a string) or KEY:int|float|bool=VALUE. Repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Content type, e.g. application/json (the body is then checked to be JSON).
    #[arg(long)]
    content_type: Option<String>,
    #[arg(long)]
    correlation_id: Option<String>,
    #[arg(long)]
    message_id: Option<String>,
    #[arg(
        long,
        help = "The body; may hold {{seq}}, {{uuid}}, {{now}}, {{rand_int(a,b)}}, {{rand_choice(a|b)}}"
    )]
    body: Option<String>,
    /// With --body: how many events to send.
    #[arg(long, default_value_t = 1, requires = "body")]
    count: u64,
    /// Send each line of PATH as one event body.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Pack events into as few batches as the size limit allows (one publish per event otherwise).
    #[arg(long)]
    batch: bool,
    /// Re-send an export (`hubscope tail --output jsonl`) with its properties and keys.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["partition_id", "partition_key", "properties", "content_type"])]
    replay: Option<PathBuf>,
    /// Seconds each publish may take before it counts as failed.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

pub fn run(args: &SendArgs) -> anyhow::Result<()> {
    let target = args.target.resolve()?;
    let events = compose(args)?;
    // Refuse bad events before connecting (partition ids are checked once the hub is known).
    producer::check(&events, &[])?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let packing = if args.batch || args.count > 1 || args.replay.is_some() {
        Packing::Batches
    } else {
        Packing::OnePerSend
    };
    super::runtime()?.block_on(async move {
        let client = hub::within("connect", timeout, target.open_producer()).await?;
        let properties = tokio::time::timeout(timeout, client.get_eventhub_properties())
            .await
            .map_err(|_| HubError::Timeout {
                what: "read the hub's properties",
                after: timeout,
            })?
            .map_err(|e| HubError::Service {
                what: "read the hub's properties",
                detail: hub::error_chain(&e),
            })?;
        let mut progress = Progress::new(events.len());
        let outcome = producer::send_events(
            &client,
            &events,
            &properties.partition_ids,
            packing,
            timeout,
            |r| {
                println!(
                    "sent {} event{} to {}: {} bytes in {} ms",
                    r.events,
                    if r.events == 1 { "" } else { "s" },
                    r.destination,
                    r.bytes,
                    r.latency.as_millis()
                );
                progress.sent(r.events);
            },
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        progress.finish();
        outcome?;
        anyhow::Ok(())
    })
}

/// The events the flags describe, read from files where they say so.
fn compose(args: &SendArgs) -> anyhow::Result<Vec<OutgoingEvent>> {
    let source = if let Some(path) = &args.replay {
        SendSource::Replay { path: path.clone() }
    } else {
        let mut properties = Vec::new();
        for text in &args.properties {
            properties.push(parse_property(text)?);
        }
        let routing = match (&args.partition_id, &args.partition_key) {
            (Some(id), _) => Routing::Partition(id.clone()),
            (None, Some(key)) => Routing::Key(key.clone()),
            (None, None) if args.round_robin => Routing::RoundRobin,
            (None, None) => Routing::Spread,
        };
        let prototype = OutgoingEvent {
            body: Vec::new(),
            content_type: args.content_type.clone(),
            correlation_id: args.correlation_id.clone(),
            message_id: args.message_id.clone(),
            properties,
            routing,
        };
        match &args.file {
            Some(path) => SendSource::Lines {
                path: path.clone(),
                prototype,
            },
            None => SendSource::Template {
                template: args.body.clone().unwrap_or_default(),
                count: args.count,
                prototype,
            },
        }
    };
    Ok(source.load()?)
}

/// Progress on stderr, so that stdout stays one line per publish for scripts: a line a second
/// while a long send runs (rewritten in place on a terminal), and a summary at the end.
struct Progress {
    total: usize,
    sent: usize,
    started: Instant,
    last_report: Instant,
    terminal: bool,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(1);

    fn new(total: usize) -> Self {
        let now = Instant::now();
        Self {
            total,
            sent: 0,
            started: now,
            last_report: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn sent(&mut self, events: usize) {
        self.sent += events;
        if self.last_report.elapsed() >= Self::EVERY && self.sent < self.total {
            self.last_report = Instant::now();
            self.write(false);
        }
    }

    /// The progress line: rewritten in place on a terminal until the last one.
    fn write(&self, last: bool) {
        let line = self.line();
        let mut err = std::io::stderr().lock();
        let _ = match (self.terminal, last) {
            (true, false) => write!(err, "\r{line}   "),
            (true, true) => writeln!(err, "\r{line}   "),
            (false, _) => writeln!(err, "{line}"),
        };
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (rate, percent) = (
            self.sent as f64 / secs,
            self.sent as f64 * 100.0 / self.total.max(1) as f64,
        );
        format!(
            "sent {} of {} events ({percent:.0} %) in {secs:.1} s, {rate:.0} events/s",
            self.sent, self.total
        )
    }

    fn finish(&self) {
        self.write(true);
    }
}
