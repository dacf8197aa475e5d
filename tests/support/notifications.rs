//! A private D-Bus session bus (Debian dbus-daemon) with a stand-in freedesktop notification
//! service on it that records every notification: the real protocol, a recording server.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

struct Service {
    seen: Seen,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Service {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut s = self.seen.lock().unwrap();
        s.push((app_name, summary, body));
        s.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "recorder".into(),
            "pretix-race tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

pub struct Bus {
    pub address: String,
    seen: Seen,
    _conn: zbus::Connection,
    daemon: tokio::process::Child,
}

impl Bus {
    pub async fn start() -> Bus {
        let mut daemon = tokio::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("dbus-daemon runs (Debian package dbus-daemon: see .ci/install-deps)");
        let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
        let address = lines.next_line().await.unwrap().expect("the bus address");
        let seen = Seen::default();
        let conn = zbus::connection::Builder::address(address.as_str())
            .unwrap()
            .name("org.freedesktop.Notifications")
            .unwrap()
            .serve_at(
                "/org/freedesktop/Notifications",
                Service { seen: seen.clone() },
            )
            .unwrap()
            .build()
            .await
            .expect("the notification service registers");
        Bus {
            address,
            seen,
            _conn: conn,
            daemon,
        }
    }

    /// (app name, summary, body) of every notification so far.
    pub fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.start_kill();
    }
}
