//! `hubscope lag`: each consumer group's real lag, from its checkpoints in a Blob checkpoint store
//! (the SDKs' processors, Azure Functions) or, with `--kafka-group`/`--kafka`, Kafka consumer
//! groups' committed offsets from the namespace's Kafka endpoint; with owners and expiry
//! warnings; once, or every `--watch` seconds; `--fail-above` gates scripts and CI on it.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hubscope::checkpoints::{CheckpointStore, Layout, StorageAccount};
use hubscope::groups::{format_duration, GroupKind, GroupLag, HubLag, LagMonitor, Rules};
use hubscope::kafka::KafkaGroups;

use super::target::TargetArgs;
use super::Exit;

/// The exit status when a group's lag passes `--fail-above`.
const LAG_ABOVE_LIMIT: u8 = 3;

#[derive(Debug, Args)]
pub struct LagArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The checkpoint store: a storage connection string (`UseDevelopmentStorage=true` for
    /// Azurite), or an account URL, which signs in with the profile's Entra ID credential.
    /// The profile's store when not given.
    #[arg(long, env = "HUBSCOPE_CHECKPOINT_STORE", hide_env_values = true)]
    checkpoint_store: Option<String>,
    /// The container that holds the checkpoints (Functions: azure-webjobs-eventhub); the
    /// profile's when not given.
    #[arg(long)]
    container: Option<String>,
    /// Report this group; repeatable. Every group found in the store when not given.
    #[arg(long = "consumer-group", value_name = "GROUP")]
    consumer_groups: Vec<String>,
    /// Report this Kafka consumer group, from the namespace's Kafka endpoint instead of a
    /// checkpoint store; repeatable.
    #[arg(long = "kafka-group", value_name = "GROUP", conflicts_with_all = ["checkpoint_store", "consumer_groups"])]
    kafka_groups: Vec<String>,
    /// Report every Kafka consumer group that reads the hub.
    #[arg(long, conflicts_with_all = ["checkpoint_store", "consumer_groups"])]
    kafka: bool,
    /// The Kafka endpoint, HOST:PORT: `<namespace>:9093` (TLS) by default, `<host>:9092`
    /// under UseDevelopmentEmulator=true.
    #[arg(long, value_name = "HOST:PORT")]
    kafka_endpoint: Option<String>,
    /// The profile's layout, or automatic, when not given.
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// The namespace as the store names it, when it is not the connection's `host[:port]`.
    #[arg(long, value_name = "NAMESPACE")]
    store_namespace: Option<String>,
    /// The hub's retention (`90s`, `30m`, `24h`, `7d`), for the expiry warnings.
    #[arg(long, value_parser = hubscope::emulator::config::parse_duration)]
    retention: Option<Duration>,
    /// An owner whose heartbeat is older than this many seconds is no longer live.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    stale_after: u64,
    /// Check again every this many seconds, one line per group.
    #[arg(long, value_name = "SECS")]
    watch: Option<u64>,
    /// Exit with status 3 when any group's lag passes this many events.
    #[arg(long, value_name = "EVENTS")]
    fail_above: Option<u64>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Seconds each store request may take.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LayoutArg {
    Processor,
    Functions,
    Auto,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(args: &LagArgs) -> anyhow::Result<()> {
    let monitor = if args.kafka || !args.kafka_groups.is_empty() {
        kafka_monitor(args)?
    } else {
        store_monitor(args)?
    };
    watch(args, monitor)
}

fn kafka_monitor(args: &LagArgs) -> anyhow::Result<LagMonitor> {
    let target = args.target.resolve()?;
    let access = args.target.kafka_access(args.kafka_endpoint.as_deref())?;
    let groups = KafkaGroups::new(access, Duration::from_secs(args.timeout_secs.max(1)));
    let rules = Rules {
        stale_after: Duration::from_secs(args.stale_after),
        retention: args.retention,
    };
    Ok(LagMonitor::kafka(target, groups, rules).only_groups(args.kafka_groups.clone()))
}

fn store_monitor(args: &LagArgs) -> anyhow::Result<LagMonitor> {
    let (target, profile) = args.target.resolve_with_profile()?;
    let saved = profile.and_then(|p| p.checkpoint_store);
    let store_text = args
        .checkpoint_store
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.store.expose().to_string()))
        .context("name the checkpoint store (--checkpoint-store), or save one in the profile")?;
    let container = args
        .container
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.container.clone()))
        .context("name the container that holds the checkpoints (--container)")?;
    let layout = match args.layout {
        Some(LayoutArg::Processor) => Layout::Processor,
        Some(LayoutArg::Functions) => Layout::Functions,
        Some(LayoutArg::Auto) => Layout::Auto,
        None => saved.as_ref().map(|s| s.layout).unwrap_or_default(),
    };
    let saved_namespace = saved.as_ref().map(|s| s.namespace.clone());
    let saved_retention = match &saved {
        Some(s) => s.retention_duration()?,
        None => None,
    };
    let account = StorageAccount::parse(&store_text, target.credential())?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let store = CheckpointStore::new(account, &container, layout, timeout)?;
    let rules = Rules {
        stale_after: Duration::from_secs(args.stale_after),
        retention: args.retention.or(saved_retention),
    };
    Ok(LagMonitor::new(target, store, rules)
        .only_groups(args.consumer_groups.clone())
        .with_namespace(args.store_namespace.clone().or(saved_namespace)))
}

fn watch(args: &LagArgs, mut monitor: LagMonitor) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let mut first = true;
        loop {
            let report = monitor.check().await?;
            match (args.output, args.watch.is_some()) {
                (Output::Json, false) => println!("{}", serde_json::to_string_pretty(&report)?),
                (Output::Json, true) => println!("{}", serde_json::to_string(&report)?),
                (Output::Text, false) => print_table(&report),
                (Output::Text, true) => print_lines(&report, first),
            }
            first = false;
            if let Some(limit) = args.fail_above {
                if let Some(group) = report.consumer_groups.iter().find(|g| g.lag_events > limit) {
                    return Err(Exit {
                        code: LAG_ABOVE_LIMIT,
                        message: format!(
                            "consumer group `{}` is {} events behind, above --fail-above {limit}",
                            group.name, group.lag_events
                        ),
                    }
                    .into());
                }
            }
            let Some(every) = args.watch else {
                return Ok(());
            };
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(every.max(1))) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}

fn print_table(report: &HubLag) {
    println!(
        "hub {} (positions from `{}`)",
        report.hub, report.checkpoint_namespace
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    for group in &report.consumer_groups {
        println!();
        let kind = match group.kind {
            GroupKind::Kafka => "Kafka consumer group",
            GroupKind::CheckpointStore => "consumer group",
        };
        println!(
            "{kind} {}: {} events behind{}",
            group.name,
            group.lag_events,
            pace_text(group)
        );
        for warning in &group.warnings {
            println!("  warning: {warning}");
        }
        println!(
            "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8}  {:<24} {:>9}",
            "partition",
            "checkpoint",
            "beginning",
            "last",
            "lag",
            "oldest_unread",
            "expired",
            "owner",
            "heartbeat"
        );
        for p in &group.partitions {
            println!(
                "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8}  {:<24} {:>9}",
                p.partition_id,
                p.checkpoint_sequence_number
                    .map_or_else(|| "none".into(), |c| c.to_string()),
                p.beginning_sequence_number,
                p.last_enqueued_sequence_number,
                p.lag_events,
                p.oldest_unprocessed_age_secs
                    .map_or_else(|| "-".into(), format_duration),
                p.expired_unread,
                p.owner_id.as_deref().unwrap_or("-"),
                p.ownership_age_secs.map_or_else(
                    || "-".into(),
                    |a| format!(
                        "{}{}",
                        format_duration(a),
                        if p.owner_stale { " stale" } else { "" }
                    )
                ),
            );
        }
    }
}

/// `--watch`: one line per group per check, its warnings on the same line.
fn print_lines(report: &HubLag, first: bool) {
    let now = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    // Notes go to stderr: stdout is one line per group, for scripts.
    if first {
        for note in &report.notes {
            eprintln!("note: {note}");
        }
    }
    for group in &report.consumer_groups {
        let warnings = if group.warnings.is_empty() {
            String::new()
        } else {
            format!(" | {}", group.warnings.join("; "))
        };
        println!(
            "{now} {} lag={}{}{warnings}",
            group.name,
            group.lag_events,
            pace_text(group)
        );
    }
}

fn pace_text(group: &GroupLag) -> String {
    let pace = match (group.consumed_per_sec, group.ingress_per_sec) {
        (Some(consumed), Some(ingress)) => {
            format!(", reading {consumed:.1}/s against {ingress:.1}/s arriving")
        }
        _ => String::new(),
    };
    let catch_up = group.catch_up_secs.map_or_else(String::new, |secs| {
        format!(", caught up in {}", format_duration(secs))
    });
    pace + &catch_up
}
