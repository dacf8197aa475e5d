//! iMessage through `osascript` driving Messages.app.
//!
//! The AppleScript is a fixed text read from stdin (`osascript -`), with an `on run argv` handler;
//! recipient and message are separate arguments after it, so no quote, backslash or
//! `& do shell script` in either can change what runs, and a leading `-` cannot be taken for an
//! osascript option (option parsing ends at the `-` program argument).

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Sends `item 2 of argv` to `item 1 of argv`: first as a participant of the iMessage account
/// (Messages on macOS 11+), then as a buddy of the iMessage service (older systems).
pub const SCRIPT: &str = r#"on run argv
    set theRecipient to item 1 of argv
    set theMessage to item 2 of argv
    tell application "Messages"
        try
            set theAccount to 1st account whose service type = iMessage
            send theMessage to participant theRecipient of theAccount
        on error
            set theService to 1st service whose service type = iMessage
            send theMessage to buddy theRecipient of theService
        end try
    end tell
end run
"#;

#[derive(Debug, thiserror::Error)]
pub enum ImessageError {
    #[error("iMessage needs osascript (macOS), and none is on PATH")]
    NoOsascript,
    #[error("iMessage recipient is empty")]
    NoRecipient,
    #[error("iMessage to {to}: a strategy may message only the recipient given with --imessage")]
    NotNamed { to: String },
    #[error("iMessage: a rehearsal sends nothing off this machine")]
    Rehearsal,
    #[error("could not run osascript: {0}")]
    Spawn(std::io::Error),
    #[error("osascript failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
}

/// `osascript` on PATH, if any.
pub fn osascript() -> Option<PathBuf> {
    which::which("osascript").ok()
}

pub async fn send(to: &str, text: &str) -> Result<(), ImessageError> {
    if to.trim().is_empty() {
        return Err(ImessageError::NoRecipient);
    }
    let exe = osascript().ok_or(ImessageError::NoOsascript)?;
    let mut child = tokio::process::Command::new(exe)
        .arg("-")
        .arg(to)
        .arg(text)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(ImessageError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(SCRIPT.as_bytes())
            .await
            .map_err(ImessageError::Spawn)?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(ImessageError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ImessageError::Failed {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
