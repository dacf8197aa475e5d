//! The errors a run can end with, each with its own exit code, rendered by miette in `main`.

use crate::config::ConfigError;
use crate::lua::diagnostics::ScriptError;

/// Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 script error, 4 the `--until`
/// deadline passed with nothing secured, 130 interrupted.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const SCRIPT: u8 = 3;
    pub const DEADLINE: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AppError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Script(#[from] Box<ScriptError>),

    #[error("{message}")]
    Failure {
        message: String,
        #[help]
        hint: Option<String>,
    },

    #[error("{message}")]
    Deadline {
        message: String,
        #[help]
        hint: Option<String>,
    },

    #[error("stopped: {summary}")]
    Interrupted { summary: String },
}

impl AppError {
    pub fn failure(message: impl Into<String>, hint: Option<String>) -> Self {
        AppError::Failure {
            message: message.into(),
            hint,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => exit::USAGE,
            AppError::Script(_) => exit::SCRIPT,
            AppError::Failure { .. } => exit::FAILURE,
            AppError::Deadline { .. } => exit::DEADLINE,
            AppError::Interrupted { .. } => exit::INTERRUPTED,
        }
    }
}

/// Says how the run ended (stderr; JSON logs stay JSON to the last line) and gives its exit code.
/// The one place an ending is rendered: `main` and the supervisor both end through it.
pub fn report(e: AppError) -> u8 {
    let code = e.exit_code();
    if crate::log::is_json() {
        let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
        crate::log::json_error(&e.to_string(), help.as_deref(), code);
    } else if let AppError::Interrupted { .. } = e {
        crate::log::err_out(&format!("{e}\n"));
    } else {
        crate::log::err_out(&format!("{:?}\n", miette::Report::new(e)));
    }
    code
}
