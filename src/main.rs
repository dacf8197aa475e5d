use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pretix_race::error::{AppError, exit};

fn main() -> ExitCode {
    let cli = pretix_race::cli::Cli::parse();
    // Piped stderr (logs, CI) gets reports unwrapped, so each message stays on one line.
    if !std::io::stderr().is_terminal() {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(miette::MietteHandlerOpts::new().width(400).build())
        }));
    }
    // One thread: a watch is one request at a time, and waking a second worker for each answer
    // cost more CPU per poll than everything the tool itself does (see README, Speed).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(pretix_race::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // JSON logs stay JSON to the last line.
        Err(e) if pretix_race::log::is_json() => {
            let code = e.exit_code();
            let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
            pretix_race::log::json_error(&e.to_string(), help.as_deref(), code);
            ExitCode::from(code)
        }
        Err(e @ AppError::Interrupted { .. }) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            let code = e.exit_code();
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(code)
        }
    }
}
