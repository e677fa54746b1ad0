//! `hubscope tail`: read partitions and print each event, as text or as JSON Lines in the
//! export format. Stops after `--max-events`, after `--idle-timeout` seconds without an event, or
//! on Ctrl-C; a reader's trouble (reconnecting, displaced) is reported on stderr.

use std::io::Write as _;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hubscope::consumer::filter::EventFilter;
use hubscope::consumer::range::{Ends, Until};
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
    /// or `time:RFC3339`, each at most what the partition holds when tail starts. With `--from
    /// earliest --until now --filter`, a search of the hub.
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

pub fn run(args: &TailArgs) -> anyhow::Result<()> {
    let mut target = args.target.resolve()?;
    if let Some(group) = &args.consumer_group {
        target.consumer_group.clone_from(group);
    }
    let filter = match &args.filter {
        Some(jq) => EventFilter::new(jq, "")?,
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
        let chosen: Vec<hub::PartitionSnapshot> = (probe.hub.partitions.into_iter())
            .filter(|p| partitions.contains(&p.id))
            .collect();
        let ends = Ends::new(&args.from, args.until.as_ref(), &chosen);
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
