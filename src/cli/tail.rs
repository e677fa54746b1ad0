//! `hubscope tail`: read partitions and print each event, as text or as JSON Lines in the
//! export format. Stops after `--max-events`, after `--idle-timeout` seconds without an event, or
//! on Ctrl-C; a reader's trouble (reconnecting, displaced) is reported on stderr.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use hubscope::consumer::filter::EventFilter;
use hubscope::consumer::{spawn_readers, ReaderSpec, ReaderState, ReceivedRecord, StartFrom};
use hubscope::hub::{self, properties::rfc3339_opt};
use tokio::sync::mpsc;

use super::target::TargetArgs;

/// Records in flight between the readers and the printer.
const CHANNEL_CAPACITY: usize = 4096;

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Consumer group to read as (the profile's, or $Default).
    #[arg(long)]
    consumer_group: Option<String>,
    /// A partition to read; repeatable. All of them when not given.
    #[arg(long = "partition", value_name = "ID")]
    partitions: Vec<String>,
    /// Where to start: earliest, latest, seq:N, offset:O or time:RFC3339.
    #[arg(long, default_value = "latest")]
    from: StartFrom,
    /// Where to stop, per partition: `now` (the last event enqueued when tail started), `seq:N`
    /// or `time:RFC3339`. With `--from earliest --until now --filter`, a search of the hub.
    #[arg(long)]
    until: Option<Until>,
    /// Print only the events this jq program selects (over `.body`, `.properties`,
    /// `.partition_id`, `.sequence_number`, `.partition_key`, `.content_type`).
    #[arg(long, value_name = "JQ")]
    filter: Option<String>,
    /// Stop after printing this many events.
    #[arg(long)]
    max_events: Option<u64>,
    /// Stop after this many seconds without an event.
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Read with this owner level (epoch); readers with a lower one are displaced.
    #[arg(long)]
    owner_level: Option<i64>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Jsonl,
}

/// `--until`: where each partition's reading ends.
#[derive(Debug, Clone, PartialEq)]
enum Until {
    Now,
    Sequence(i64),
    Time(SystemTime),
}

impl std::str::FromStr for Until {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match StartFrom::from_str(text) {
            _ if text.trim() == "now" => Ok(Self::Now),
            Ok(StartFrom::SequenceNumber(n)) => Ok(Self::Sequence(n)),
            Ok(StartFrom::EnqueuedTime(t)) => Ok(Self::Time(t)),
            Ok(_) => Err(format!("`{text}`: use now, seq:N or time:RFC3339")),
            Err(e) => Err(e.replace("earliest, latest, seq:N, offset:O or", "now, seq:N or")),
        }
    }
}

/// Where one partition's reading ends, fixed at the start from its properties.
#[derive(Debug, Clone, Copy)]
struct Limit {
    /// The last sequence number to print; `None`: no such limit.
    last_sequence: Option<i64>,
    /// Events enqueued after this are past the end.
    time: Option<SystemTime>,
}

impl Limit {
    fn new(until: Option<&Until>, partition: &hub::PartitionSnapshot) -> Self {
        let last_now = (!partition.is_empty).then_some(partition.last_enqueued_sequence_number);
        match until {
            None => Self {
                last_sequence: None,
                time: None,
            },
            // An empty partition has nothing to read up to now: -1 is before any event.
            Some(Until::Now) => Self {
                last_sequence: Some(last_now.unwrap_or(-1)),
                time: None,
            },
            Some(Until::Sequence(n)) => Self {
                last_sequence: Some(*n),
                time: None,
            },
            Some(Until::Time(t)) => Self {
                // Everything there now is before the time: reading ends at the last of it.
                last_sequence: partition
                    .last_enqueued_time
                    .filter(|last| last <= t)
                    .and(last_now)
                    .or(if partition.is_empty { Some(-1) } else { None }),
                time: Some(*t),
            },
        }
    }

    /// Whether `record` is past the end.
    fn past(&self, record: &ReceivedRecord) -> bool {
        self.last_sequence
            .is_some_and(|last| record.sequence_number > last)
            || self
                .time
                .is_some_and(|t| record.enqueued_time.is_some_and(|e| e > t))
    }

    /// Whether nothing after `record` can be printed.
    fn reached(&self, record: &ReceivedRecord) -> bool {
        self.last_sequence
            .is_some_and(|last| record.sequence_number >= last)
    }
}

pub fn run(args: &TailArgs) -> anyhow::Result<()> {
    let mut target = args.target.resolve()?;
    if let Some(group) = &args.consumer_group {
        target.consumer_group.clone_from(group);
    }
    let filter = match &args.filter {
        Some(jq) => EventFilter::new(jq, "").map_err(anyhow::Error::msg)?,
        None => EventFilter::none(),
    };
    super::runtime()?.block_on(async move {
        let probe = hub::probe(&target, hub::DEFAULT_TIMEOUT).await?;
        let known: Vec<String> = probe.hub.partitions.iter().map(|p| p.id.clone()).collect();
        let partitions = if args.partitions.is_empty() {
            known.clone()
        } else {
            for id in &args.partitions {
                anyhow::ensure!(
                    known.contains(id),
                    "partition `{id}` does not exist; the hub has partitions {}",
                    known.join(", ")
                );
            }
            args.partitions.clone()
        };
        let mut ends = Ends::default();
        for p in probe
            .hub
            .partitions
            .iter()
            .filter(|p| partitions.contains(&p.id))
        {
            let limit = Limit::new(args.until.as_ref(), p);
            let first = first_to_read(&args.from, p);
            let done =
                matches!((limit.last_sequence, first), (Some(last), Some(first)) if last < first);
            ends.limits.push((p.id.clone(), limit, done));
        }
        if ends.all_done() {
            return Ok(()); // nothing between the start and the end
        }
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let like = ReaderSpec {
            partition_id: String::new(),
            start: args.from.clone(),
            owner_level: args.owner_level,
            prefetch: None,
        };
        let readers = spawn_readers(&target, &partitions, &like, &tx);
        drop(tx);
        let outcome = print_until_done(args, rx, &readers, &filter, ends).await;
        for reader in &readers {
            reader.stop();
        }
        outcome
    })
}

/// Each partition's end, and whether it has been reached.
#[derive(Default)]
struct Ends {
    limits: Vec<(String, Limit, bool)>,
}

impl Ends {
    fn all_done(&self) -> bool {
        !self.limits.is_empty() && self.limits.iter().all(|(_, _, done)| *done)
    }

    /// Whether `record` is to be printed; marks its partition done at or past its end.
    fn admit(&mut self, record: &ReceivedRecord) -> bool {
        let Some((_, limit, done)) = self
            .limits
            .iter_mut()
            .find(|(id, ..)| *id == record.partition_id)
        else {
            return true;
        };
        if *done || limit.past(record) {
            *done = true;
            return false;
        }
        *done = limit.reached(record);
        true
    }
}

/// The first sequence number a reader starting at `from` reads, when it can be told.
fn first_to_read(from: &StartFrom, p: &hub::PartitionSnapshot) -> Option<i64> {
    match from {
        StartFrom::Earliest => Some(p.beginning_sequence_number),
        StartFrom::Latest => Some(if p.is_empty {
            p.beginning_sequence_number
        } else {
            p.last_enqueued_sequence_number + 1
        }),
        StartFrom::SequenceNumber(n) => Some(*n),
        StartFrom::Offset(_) | StartFrom::EnqueuedTime(_) => None,
    }
}

async fn print_until_done(
    args: &TailArgs,
    mut rx: mpsc::Receiver<ReceivedRecord>,
    readers: &[hubscope::consumer::ReaderHandle],
    filter: &EventFilter,
    mut ends: Ends,
) -> anyhow::Result<()> {
    let idle = args.idle_timeout.map(Duration::from_secs);
    let mut printed = 0u64;
    let mut last_states: Vec<ReaderState> =
        readers.iter().map(|r| r.state.borrow().clone()).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_event = tokio::time::Instant::now();
    let mut out = std::io::stdout().lock();
    loop {
        if args.max_events.is_some_and(|max| printed >= max) {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            record = rx.recv() => {
                let Some(record) = record else {
                    // Readers that end for good close the channel: say why, once.
                    for (reader, last) in readers.iter().zip(last_states.iter_mut()) {
                        *last = reader.state.borrow().clone();
                    }
                    anyhow::bail!("{}", stopped_because(&last_states));
                };
                last_event = tokio::time::Instant::now();
                let admitted = ends.admit(&record);
                if admitted && filter.matches(&record) {
                    printed += 1;
                } else {
                    if ends.all_done() {
                        return Ok(());
                    }
                    continue;
                }
                let line = match args.output {
                    Output::Jsonl => serde_json::to_string(&record.to_export())?,
                    Output::Text => text_line(&record),
                };
                // A closed stdout (`| head`) ends the command quietly.
                if writeln!(out, "{line}").is_err() || ends.all_done() {
                    return Ok(());
                }
            }
            _ = tick.tick() => {
                report_state_changes(readers, &mut last_states);
                if idle.is_some_and(|idle| last_event.elapsed() >= idle) {
                    return Ok(());
                }
                if last_states.iter().all(ReaderState::is_final) {
                    anyhow::bail!("{}", stopped_because(&last_states));
                }
            }
        }
    }
}

/// Why every reader stopped: each distinct reason once (an unknown group fails them all alike).
fn stopped_because(states: &[ReaderState]) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for state in states {
        let reason = match state {
            ReaderState::Failed(why) => why.clone(),
            other => other.to_string(),
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    format!("every reader has stopped: {}", reasons.join("; "))
}

fn report_state_changes(readers: &[hubscope::consumer::ReaderHandle], last: &mut [ReaderState]) {
    for (reader, last) in readers.iter().zip(last.iter_mut()) {
        let now = reader.state.borrow().clone();
        if now != *last {
            // A failure is told once when every reader has stopped: see `stopped_because`.
            if matches!(
                now,
                ReaderState::Reconnecting { .. } | ReaderState::Displaced(_)
            ) {
                eprintln!("partition {}: {now}", reader.partition_id);
            }
            *last = now;
        }
    }
}

fn text_line(record: &ReceivedRecord) -> String {
    let body = match record.body_text() {
        Some(text) => text.replace('\n', " "),
        None => format!("<{} bytes>", record.body.len()),
    };
    format!(
        "{} {} {} {} {}",
        record.partition_id,
        record.sequence_number,
        record
            .enqueued_time
            .map_or_else(|| "-".into(), rfc3339_opt::format),
        record.partition_key.as_deref().unwrap_or("-"),
        body
    )
}
