//! Telling the person: webhook, desktop notification, iMessage.
//!
//! Alerts go out after the cart add, never before it, and never delay it: each is a background
//! task. [`Alerts::event`] sends one of the documented events to every channel the user set up;
//! the channel functions are the primitives strategies use for alerts of their own. Before the
//! process exits, [`Alerts::drain`] gives pending deliveries a bounded time to finish.

pub mod desktop;
pub mod imessage;
pub mod webhook;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use tokio::task::JoinSet;
use url::Url;

pub use webhook::{Webhook, WebhookError, check_url};

/// The payload format's version, sent as `"version"` in every event.
pub const PAYLOAD_VERSION: u32 = 1;

/// A ticket is in a cart (its fields: [`handed_over_at_exit`]; a strategy's `cart_fields`).
pub const TICKET_IN_CART: &str = "ticket_in_cart";

/// The events pretix-race sends.
pub const EVENTS: [&str; 4] = [
    TICKET_IN_CART,
    "tickets_available",
    "marketplace_available",
    "watcher_failing",
];

/// Fields of every event that only pretix-race sets: no strategy can override them.
pub const RESERVED_FIELDS: [&str; 4] = ["version", "timestamp", "event", "target"];

/// The payload of a documented event: `version`, `timestamp`, `event`, `target`, then `fields`
/// (any field named like the first four is dropped: those are ours).
pub fn payload(target: &str, event: &str, mut fields: Map<String, Value>) -> Value {
    fields.retain(|k, _| !RESERVED_FIELDS.contains(&k.as_str()));
    let mut m = Map::new();
    m.insert("version".into(), PAYLOAD_VERSION.into());
    m.insert(
        "timestamp".into(),
        crate::clock::rfc3339(SystemTime::now()).into(),
    );
    m.insert("event".into(), event.into());
    m.insert("target".into(), target.into());
    m.extend(fields);
    Value::Object(m)
}

/// [`TICKET_IN_CART`]'s fields for a cart the run handed over as it ended (not its strategy):
/// what the cart is, where to finish it, and the session to finish it with.
pub fn handed_over_at_exit(
    cart: &crate::core::carts::SecuredCart,
    export: &crate::core::handoff::Export,
) -> Map<String, Value> {
    let cookies: Vec<Value> = export
        .cookies
        .iter()
        .map(|c| {
            serde_json::json!({ "name": c.name, "value": c.value, "domain": c.domain, "path": c.path })
        })
        .collect();
    let mut fields = Map::new();
    fields.insert("ticket".into(), cart.ticket.clone().into());
    fields.insert("price".into(), cart.price.clone().into());
    fields.insert("checkout_url".into(), cart.checkout_url.as_str().into());
    fields.insert("expires".into(), cart.expires.clone().into());
    fields.insert("cookies".into(), cookies.into());
    fields.insert("cookie_script".into(), export.console_script.clone().into());
    fields.insert("handed_over_at_exit".into(), true.into());
    fields
}

pub struct Alerts {
    webhook: Webhook,
    webhook_url: Option<Url>,
    imessage_to: Option<String>,
    imessage_sent: AtomicBool,
    /// A rehearsal: nothing leaves the machine (no iMessage; webhooks are held by their gate).
    local_only: bool,
    /// The default `target` of events (the event page until the marketplace is found).
    target: Mutex<String>,
    /// Every marketplace found, so an event about one of several events names the right one.
    found: Mutex<Vec<String>>,
    pending: Mutex<JoinSet<()>>,
}

impl Alerts {
    pub fn new(
        webhook: Webhook,
        webhook_url: Option<Url>,
        imessage_to: Option<String>,
        target: &str,
    ) -> Self {
        Self {
            webhook,
            webhook_url,
            imessage_to,
            imessage_sent: AtomicBool::new(false),
            local_only: false,
            target: Mutex::new(target.to_string()),
            found: Mutex::new(Vec::new()),
            pending: Mutex::new(JoinSet::new()),
        }
    }

    /// The same channels and targets over another webhook client: for the supervisor, which
    /// sends the at-exit alerts on a runtime of its own when the run's runtime is stuck (a client's
    /// pooled connections belong to the runtime that opened them).
    pub fn detached(&self, webhook: Webhook) -> Self {
        Self {
            webhook,
            webhook_url: self.webhook_url.clone(),
            imessage_to: self.imessage_to.clone(),
            imessage_sent: AtomicBool::new(self.imessage_sent.load(Relaxed)),
            local_only: self.local_only,
            target: Mutex::new(
                self.target
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            ),
            found: Mutex::new(self.found.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            pending: Mutex::new(JoinSet::new()),
        }
    }

    /// A rehearsal's alerts: nothing leaves the machine, whoever asks.
    pub fn local_only(mut self, local: bool) -> Self {
        self.local_only = local;
        self
    }

    pub fn set_target(&self, target: &str) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = target.to_string();
    }

    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Reap what has finished, so a long watch does not keep every delivery's handle.
        while p.try_join_next().is_some() {}
        p.spawn(fut);
    }

    /// Queues a webhook delivery (three tries); refuses at once a URL the gate refuses (see
    /// [`Webhook::check`]).
    pub fn webhook(&self, url: &Url, payload: Value) -> Result<(), WebhookError> {
        self.webhook.check(url)?;
        let (hook, url) = (self.webhook.clone(), url.clone());
        self.spawn(async move {
            let _ = deliver(&hook, &url, &payload).await;
        });
        Ok(())
    }

    /// Delivers a webhook now and says how it went (three tries on transient failures).
    pub async fn webhook_now(&self, url: &Url, payload: &Value) -> Result<(), WebhookError> {
        self.webhook.check(url)?;
        deliver(&self.webhook, url, payload).await
    }

    /// Queues a desktop notification; skipped quietly where the system has no notification service.
    pub fn desktop(&self, title: &str, body: &str) {
        let (title, body) = (title.to_string(), body.to_string());
        self.spawn(async move {
            match desktop::show(&title, &body).await {
                Ok(()) => crate::log::debug(format!("desktop notification shown: {title}")),
                Err(e) => crate::log::debug(format!("desktop notification skipped: {e}")),
            }
        });
    }

    /// A strategy's iMessage (`race.alert.imessage`): only to the recipient the person gave with
    /// `--imessage`. A shared strategy must not be able to send the session to anyone else.
    pub fn imessage_from_script(
        &self,
        to: &str,
        text: &str,
    ) -> Result<(), imessage::ImessageError> {
        if self.imessage_to.as_deref().map(str::trim) != Some(to.trim()) {
            return Err(imessage::ImessageError::NotNamed { to: to.to_string() });
        }
        self.imessage(to, text)
    }

    /// Queues an iMessage; fails at once where there is no osascript.
    pub fn imessage(&self, to: &str, text: &str) -> Result<(), imessage::ImessageError> {
        if self.local_only {
            return Err(imessage::ImessageError::Rehearsal);
        }
        if imessage::osascript().is_none() {
            return Err(imessage::ImessageError::NoOsascript);
        }
        let (to, text) = (to.to_string(), text.to_string());
        self.spawn(async move {
            match imessage::send(&to, &text).await {
                Ok(()) => crate::log::info(format!("iMessage to {to}: sent")),
                Err(e) => crate::log::warn(format!("iMessage to {to}: {e}")),
            }
        });
        Ok(())
    }

    /// Sends a documented event to every channel the user set up: the `--webhook` always;
    /// a desktop notification for a cart and for the marketplace coming back; the `--imessage`
    /// once per run, for the cart.
    pub fn event(&self, event: &str, fields: Map<String, Value>) {
        let target = self.target_for(&fields);
        self.event_at(&target, event, fields);
    }

    /// The marketplace an event is about: the one found for the event its `checkout_url` or
    /// `event_url` belongs to, else the one found last (or the event page before any was).
    fn target_for(&self, fields: &Map<String, Value>) -> String {
        let about = ["checkout_url", "event_url"]
            .iter()
            .find_map(|k| fields.get(*k).and_then(Value::as_str));
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        let mine = about.and_then(|a| {
            found.iter().find(|m| {
                crate::core::pretix::event_part_of_marketplace(m).is_some_and(|e| a.starts_with(e))
            })
        });
        match mine {
            Some(m) => m.clone(),
            None => self
                .target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// [`Self::event`] about a given target (the marketplace or event the event is about).
    pub fn event_at(&self, target: &str, event: &str, fields: Map<String, Value>) {
        let text = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        match event {
            TICKET_IN_CART => {
                let (ticket, price, url) = (text("ticket"), text("price"), text("checkout_url"));
                let until = fields
                    .get("expires")
                    .and_then(Value::as_str)
                    .map(|x| format!(" Reserved until {x}."))
                    .unwrap_or_default();
                self.desktop(
                    "Ticket in your cart",
                    &format!("{ticket} {price}: finish checkout in your browser now.{until}"),
                );
                if let Some(to) = &self.imessage_to {
                    if !self.imessage_sent.swap(true, Relaxed) {
                        let msg = format!(
                            "pretix-race: a ticket is in your cart ({ticket}, {price}). Check out now: {url}{until}"
                        );
                        if let Err(e) = self.imessage(to, &msg) {
                            crate::log::warn(format!("iMessage to {to}: {e}"));
                        }
                    }
                }
            }
            "marketplace_available" => {
                self.desktop(
                    "Marketplace is open",
                    &format!("pretix-race is watching {target}"),
                );
            }
            _ => {}
        }
        if let Some(url) = &self.webhook_url {
            let payload = payload(target, event, fields);
            if let Err(e) = self.webhook(url, payload) {
                crate::log::warn(e.to_string());
            }
        }
    }

    /// Waits up to `max` for queued deliveries, so an exit right after a cart does not cut them off.
    pub async fn drain(&self, max: Duration) {
        let mut set = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        while set.try_join_next().is_some() {}
        if set.is_empty() {
            return;
        }
        crate::log::debug(format!(
            "waiting up to {} s for alerts to go out",
            max.as_secs()
        ));
        let all = async { while set.join_next().await.is_some() {} };
        if tokio::time::timeout(max, all).await.is_err() {
            crate::log::warn("some alerts were still being sent at exit");
        }
    }
}

/// One delivery, logged either way.
async fn deliver(hook: &Webhook, url: &Url, payload: &Value) -> Result<(), WebhookError> {
    match hook.send(url, payload).await {
        Ok((status, tries)) => {
            crate::log::info(format!(
                "webhook {url}: delivered (HTTP {status}{})",
                if tries > 1 {
                    format!(", try {tries}")
                } else {
                    String::new()
                }
            ));
            Ok(())
        }
        Err(e) => {
            crate::log::warn(format!("{e} (gave up after {} tries)", webhook::TRIES));
            Err(e)
        }
    }
}

impl crate::core::events::EventSink for Alerts {
    fn event(&self, target: &str, name: &str, fields: Map<String, Value>) {
        self.event_at(target, name, fields);
    }

    fn found(&self, target: &str) {
        self.set_target(target);
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if !found.iter().any(|f| f == target) {
            found.push(target.to_string());
        }
    }
}
