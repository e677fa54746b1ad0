//! `hubscope props`: the hub's and its partitions' properties, as text or JSON.

use clap::{Args, ValueEnum};
use hubscope::hub::{self, properties::rfc3339_opt};

use super::target::TargetArgs;

#[derive(Debug, Args)]
pub struct PropsArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Seconds to wait for the endpoint before giving up.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(args: &PropsArgs) -> anyhow::Result<()> {
    let target = args.target.resolve()?;
    let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
    let probe = super::runtime()?.block_on(hub::probe(&target, timeout))?;
    let hub = probe.hub;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&hub)?),
        Output::Text => {
            println!("hub {} at {}", hub.name, target.endpoint_label);
            if let Some(created) = hub.created_on {
                println!("created {}", rfc3339_opt::format(created));
            }
            println!(
                "{:<10} {:>14} {:>18} {:>14} {:<32} {:>6} {:>10}",
                "partition",
                "beginning_seq",
                "last_enqueued_seq",
                "last_offset",
                "last_enqueued_time",
                "empty",
                "retained"
            );
            for p in &hub.partitions {
                println!(
                    "{:<10} {:>14} {:>18} {:>14} {:<32} {:>6} {:>10}",
                    p.id,
                    p.beginning_sequence_number,
                    p.last_enqueued_sequence_number,
                    p.last_enqueued_offset,
                    p.last_enqueued_time
                        .map_or_else(|| "-".into(), rfc3339_opt::format),
                    if p.is_empty { "yes" } else { "no" },
                    p.retained_events()
                );
            }
        }
    }
    Ok(())
}
