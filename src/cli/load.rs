//! `hubscope load`: run a load plan through the pooled producer, over AMQP or Kafka, and report
//! what the hub acknowledged, with latency measured from each event's due time.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hubscope::hub;
use hubscope::kafka::producer::{KafkaCompression, KafkaProducer, KafkaProducerConfig};
use hubscope::loadgen::{self, run::Progress, Plan, Sink};
use hubscope::producer::pool::ProducerPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::target::TargetArgs;

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Events per second, `max`, `ramp:FROM-TO/30s` or `steps:1000/10s,5000/10s`.
    #[arg(long, value_parser = loadgen::parse_rate)]
    rate: loadgen::Rate,
    /// How long to run, e.g. 30s or 5m.
    #[arg(long, value_parser = hubscope::emulator::config::parse_duration)]
    duration: Option<Duration>,
    /// How many events to send.
    #[arg(long)]
    events: Option<u64>,
    /// Body size in bytes (ignored with --template).
    #[arg(long, default_value_t = 1024)]
    event_size: usize,
    /// A body template, as in the composer ({{seq}}, {{uuid}}, {{now}}, ...).
    #[arg(long)]
    template: Option<String>,
    /// Events per batch; by default as many as are due per destination and fit in 1 MB.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Connections in the pool.
    #[arg(long, default_value_t = 4)]
    pool_size: usize,
    /// Sends in flight per connection.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// spread, round-robin, keys:N[,hot:P] or partition:ID.
    #[arg(long, default_value = "spread", value_parser = loadgen::parse_routing)]
    routing: loadgen::Routing,
    /// Read every event back and report produce → consume latency per partition (AMQP only).
    #[arg(long)]
    end_to_end: bool,
    /// Send over AMQP (the SDK's pooled producer) or Kafka (the namespace's Kafka endpoint).
    #[arg(long, value_enum, default_value_t = Protocol::Amqp)]
    protocol: Protocol,
    /// The Kafka endpoint, HOST:PORT: `<namespace>:9093` (TLS) by default, `<host>:9092`
    /// under UseDevelopmentEmulator=true.
    #[arg(long, value_name = "HOST:PORT")]
    kafka_endpoint: Option<String>,
    /// How the Kafka producer compresses each batch.
    #[arg(long, value_enum, default_value_t = KafkaCompression::None)]
    compression: KafkaCompression,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// This process's CPU time (user + system) in seconds, from /proc on Linux.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux the kernel ships for.
    Some((utime + stime) / 100.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Amqp,
    Kafka,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
    Csv,
}

pub fn run(args: &LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration.is_some()
            || args.events.is_some()
            || matches!(args.rate, loadgen::Rate::Steps { .. }),
        "say how long to run: --duration or --events"
    );
    anyhow::ensure!(
        !(args.end_to_end && args.protocol == Protocol::Kafka),
        "--end-to-end reads the events back by the properties AMQP sends; use it with --protocol amqp"
    );
    let target = args.target.resolve()?;
    let plan = Plan {
        rate: args.rate.clone(),
        duration: args.duration,
        events: args.events,
        event_size: args.event_size,
        template: args.template.clone(),
        batch_size: args.batch_size,
        routing: args.routing.clone(),
        pool_size: args.pool_size.max(1),
        in_flight_per_connection: args.in_flight.max(1),
    };
    if let Some(tu) = plan.throughput_units() {
        eprintln!("this plan needs about {tu} throughput unit(s) on a real namespace");
    }
    super::runtime()?.block_on(async move {
        let probe = hub::probe(&target, hub::DEFAULT_TIMEOUT).await?;
        let e2e_target = target.clone();
        let partition_ids: Vec<String> = probe.hub.partitions.iter().map(|p| p.id.clone()).collect();
        let sink = open_sink(args, &plan, target, &partition_ids).await?;
        let end_to_end = if args.end_to_end {
            Some(
                loadgen::end_to_end::EndToEnd::start(&e2e_target, &partition_ids).await?,
            )
        } else {
            None
        };
        let cpu_before = process_cpu_secs();
        let stop = CancellationToken::new();
        let (progress, mut watch_progress) = watch::channel(Progress::default());
        let stopper = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stopper.cancel();
        });
        let text = matches!(args.output, Output::Text);
        let reporter = tokio::spawn(async move {
            while watch_progress.changed().await.is_ok() {
                let p = watch_progress.borrow().clone();
                if text && !p.finished {
                    if let Some(s) = &p.last_second {
                        eprintln!(
                            "{:>4.0} s  sent {:>8}/s  failed {:>5}  p99 {:>7.2} ms  pool ready {} busy {} opening {}",
                            p.elapsed_secs, s.sent_events, s.failed_events, s.p99_ms, p.pool.ready, p.pool.busy, p.pool.opening
                        );
                    }
                }
            }
        });
        let outcome = loadgen::run::run(plan, sink.clone(), partition_ids, stop, progress, end_to_end)
            .await?;
        let _ = reporter.await;
        let cpu = process_cpu_secs().zip(cpu_before).map(|(after, before)| after - before);
        match &sink {
            Sink::Amqp(pool) => pool.close().await,
            Sink::Kafka(producer) => producer.close().await,
        }
        for note in &outcome.notes {
            eprintln!("note: {note}");
        }
        let r = &outcome.report;
        match args.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(r)?),
            Output::Csv => print!("{}", outcome.metrics.seconds_csv()),
            Output::Text => print_text(r, cpu),
        }
        anyhow::ensure!(r.events_failed == 0 || r.events_sent > 0, "every send failed; see the errors above");
        anyhow::Ok(())
    })
}

/// The producer the plan runs on, opened before the clock starts: connection set-up is not part
/// of the load, and each connection's open has its own timeout (the send timeout).
async fn open_sink(
    args: &LoadArgs,
    plan: &Plan,
    target: hubscope::hub::Target,
    partition_ids: &[String],
) -> anyhow::Result<Sink> {
    Ok(match args.protocol {
        Protocol::Amqp => {
            let pool = ProducerPool::new(target, plan.pool_config());
            Box::pin(pool.warm_up(partition_ids))
                .await
                .map_err(|e| anyhow::anyhow!("could not open the producer pool: {e}"))?;
            Sink::Amqp(pool)
        }
        Protocol::Kafka => {
            let access = args.target.kafka_access(args.kafka_endpoint.as_deref())?;
            let config = KafkaProducerConfig {
                topic: target.hub.clone(),
                partitions: partition_ids.len(),
                connections: plan.pool_size,
                in_flight_per_connection: plan.in_flight_per_connection,
                timeout: plan.pool_config().send_timeout,
                compression: args.compression,
            };
            let producer = KafkaProducer::connect(access, config)
                .await
                .map_err(|e| anyhow::anyhow!("could not open the Kafka producers: {e}"))?;
            Sink::Kafka(Arc::new(producer))
        }
    })
}

/// The summary as a person reads it.
fn print_text(r: &hubscope::loadgen::metrics::Report, cpu: Option<f64>) {
    println!(
        "target {}  achieved {:.0} events/s  sent {}  failed {}  {} MB in {:.1} s",
        r.target_rate_per_sec
            .map_or_else(|| "max".to_string(), |t| format!("{t:.0}/s")),
        r.achieved_rate_per_sec,
        r.events_sent,
        r.events_failed,
        r.bytes_sent / 1_000_000,
        r.duration_secs
    );
    let l = &r.latency_ms;
    println!(
        "latency from due time: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
        l.p50, l.p90, l.p99, l.p999, l.max
    );
    let l = &r.send_latency_ms;
    println!(
        "latency from send:     p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
        l.p50, l.p90, l.p99, l.p999, l.max
    );
    for (kind, count) in &r.errors {
        println!("errors {kind:?}: {count}");
    }
    if let Some(e2e) = &r.end_to_end {
        println!(
            "end to end: {} of {} events read back",
            e2e.received, r.events_sent
        );
        for (partition, l) in &e2e.per_partition_ms {
            println!(
                "  partition {partition}: produce to consume p50 {:.2}  p99 {:.2}  max {:.2} ms",
                l.p50, l.p99, l.max
            );
        }
    }
    if let Some(cpu) = cpu.filter(|_| r.events_sent > 0) {
        #[allow(clippy::cast_precision_loss)]
        let per_event = cpu * 1e6 / r.events_sent as f64;
        println!("generator CPU: {cpu:.2} s, {per_event:.2} µs per event sent");
    }
}
