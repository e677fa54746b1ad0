//! The `hubscope` binary: a thin face over the engine in the library.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// glibc's allocator serialises our many small per-event allocations across runtime threads
/// (profiled: arena lock contention); mimalloc keeps them thread-local.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // First, while the process has one thread: see the function.
    hubscope::ui::format::remember_local_offset();
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<cli::Exit>() {
                eprintln!("{}", exit.message);
                return ExitCode::from(exit.code);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
