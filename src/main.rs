use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = pretix_race::cli::Cli::parse();
    // Piped stderr (logs, CI) gets reports unwrapped, so each message stays on one line.
    if !std::io::stderr().is_terminal() {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(miette::MietteHandlerOpts::new().width(400).build())
        }));
    }
    // The run lives on an engine thread; this one supervises it (see `supervisor`): no script and
    // no page can keep a secured cart from being handed over.
    let result = pretix_race::supervisor::supervise(move || {
        // One thread: a watch is one request at a time, and waking a second worker for each
        // answer cost more CPU per poll than everything the tool itself does (README, Speed).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                pretix_race::error::AppError::failure(
                    format!("could not start the async runtime: {e}"),
                    None,
                )
            })?;
        let result = runtime.block_on(pretix_race::run(cli));
        // Tasks still parked (a browser's, a spawned strategy task's) are not waited for.
        runtime.shutdown_background();
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(pretix_race::error::report(e)),
    }
}
