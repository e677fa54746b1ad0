//! `hubscope-emulator`: the endpoint alone, headless (no GUI in this binary). `hubscope emulator`
//! runs the same thing from the app's binary.

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator serialises the many small per-event allocations across runtime threads
/// (profiled: arena lock contention); mimalloc keeps them thread-local.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An Event Hubs-compatible endpoint on this machine.
#[derive(Debug, Parser)]
#[command(name = "hubscope-emulator", version)]
struct Cli {
    /// More log output (-v: the endpoint's debug lines, -vv: everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    endpoint: hubscope_emulator::cli::EmulatorArgs,
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let default = match args.verbose {
        0 => "info,fe2o3_amqp=off",
        1 => "hubscope_emulator=debug,info",
        _ => "trace",
    };
    hubscope_emulator::cli::init_tracing(default);
    match hubscope_emulator::cli::run(args.endpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
