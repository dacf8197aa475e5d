//! Where events raised below any script go (`watcher_failing`, the marketplace found): a sink the
//! app plugs in, so the session and the watch code know nothing of webhooks or notifications.

use serde_json::{Map, Value};

pub trait EventSink: Send + Sync {
    /// One of the documented events, about `target` (the marketplace or event page concerned).
    fn event(&self, target: &str, name: &str, fields: Map<String, Value>);

    /// A marketplace was found: later events without a target of their own are about it.
    fn found(&self, _target: &str) {}
}
