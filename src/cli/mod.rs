//! The command line: parsing and dispatch. Each command lives in its own file.

use clap::{CommandFactory as _, Parser, Subcommand};

mod hubs;
mod lag;
mod load;
mod props;
mod send;
mod tail;
mod target;

/// hubscope: explore and load-test Azure Event Hubs.
#[derive(Debug, Parser)]
#[command(name = "hubscope", version, about)]
pub struct Cli {
    /// More logging (-v debug, -vv trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Without a command, the desktop app opens.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the desktop app (the default).
    Gui,
    /// Run the embedded Event Hubs-compatible endpoint.
    Emulator(hubscope::emulator::cli::EmulatorArgs),
    /// List, create and delete a namespace's hubs (its management API).
    Hubs(hubs::HubsArgs),
    /// List, create and delete a hub's consumer groups.
    Groups(hubs::GroupsArgs),
    /// Print a hub's and its partitions' properties.
    Props(props::PropsArgs),
    /// Send events: one, many from a template, a file of bodies, or a replayed export.
    Send(send::SendArgs),
    /// Print events as they arrive (or from a start position), as text or JSON Lines.
    Tail(tail::TailArgs),
    /// Consumer groups' lag from their checkpoints (Blob checkpoint store, Azure Functions).
    Lag(lag::LagArgs),
    /// Run a load plan (open-model rate, pooled producer) and report latency and throughput.
    Load(load::LoadArgs),
    /// Print a shell completion script: `hubscope completions bash > ~/.local/share/bash-completion/completions/hubscope`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Logs to stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    // The SDK logs every retry and refusal as it happens; the commands report the outcome once.
    let default = match verbose {
        0 => "info,azure_messaging_eventhubs=off,azure_core_amqp=off,fe2o3_amqp=off",
        1 => "hubscope=debug,info",
        _ => "trace",
    };
    hubscope::emulator::cli::init_tracing(default);
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command failed with, for `main` to print.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Gui) {
        Command::Gui => hubscope::ui::run(hubscope::profiles::ProfileStore::open_default()?),
        Command::Emulator(args) => hubscope::emulator::cli::run(args),
        Command::Hubs(args) => hubs::run_hubs(&args),
        Command::Groups(args) => hubs::run_groups(&args),
        Command::Props(args) => props::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Tail(args) => tail::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Lag(args) => lag::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "hubscope",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// A command's outcome that is not a failure of the command itself, with its own exit status
/// (`lag --fail-above`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

/// The runtime a one-shot command runs on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hubscope-cli")
        .enable_all()
        .build()?)
}
