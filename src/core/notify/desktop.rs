//! Desktop notifications: freedesktop notifications over D-Bus on Linux/BSD, Notification Center
//! on macOS, through notify-rust. The body is escaped, so markup in a ticket title cannot format
//! or link anything; nothing in it is ever run.

use crate::core::web::escape;

#[derive(Debug, thiserror::Error)]
#[error("no desktop notification: {0}")]
pub struct DesktopError(String);

pub async fn show(title: &str, body: &str) -> Result<(), DesktopError> {
    let mut n = notify_rust::Notification::new();
    n.appname("pretix-race").summary(title).body(&escape(body));
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        n.show_async()
            .await
            .map(|_| ())
            .map_err(|e| DesktopError(e.to_string()))
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        tokio::task::spawn_blocking(move || {
            n.show()
                .map(|_| ())
                .map_err(|e| DesktopError(e.to_string()))
        })
        .await
        .map_err(|e| DesktopError(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            super::escape("<a href='x'>A & B</a>"),
            "&lt;a href='x'&gt;A &amp; B&lt;/a&gt;"
        );
    }
}
