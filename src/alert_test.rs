//! `pretix-race alert-test`: one test message on each named channel, waiting for each, and a
//! report per channel: delivered, or the exact error. Exit 0 only when every channel delivered.

use serde_json::Map;

use crate::config::AlertTest;
use crate::core::notify::{self, Webhook, desktop, imessage};
use crate::error::AppError;

pub async fn run(a: AlertTest) -> Result<(), AppError> {
    let (webhook, client) = (a.webhook.clone(), a.client.clone());

    let mut results: Vec<(&str, Result<String, String>)> = Vec::new();
    if let Some(to) = &a.imessage {
        let r = imessage::send(to, "pretix-race alert test: iMessage alerts reach you.").await;
        results.push((
            "imessage",
            r.map(|()| format!("sent to {to}"))
                .map_err(|e| e.to_string()),
        ));
    }
    if a.desktop {
        let r = desktop::show("pretix-race alert test", "Desktop notifications reach you.").await;
        results.push((
            "desktop",
            r.map(|()| "shown".to_string()).map_err(|e| e.to_string()),
        ));
    }
    if let Some(url) = &webhook {
        let hook = Webhook::new(&client).map_err(|e| AppError::failure(e.to_string(), None))?;
        let payload = notify::payload(url.as_str(), "test", {
            let mut m = Map::new();
            m.insert(
                "message".into(),
                "pretix-race alert test: webhooks reach you.".into(),
            );
            m
        });
        let r = hook.send(url, &payload).await;
        results.push((
            "webhook",
            r.map(|(status, tries)| format!("HTTP {status} from {url} (try {tries})"))
                .map_err(|e| e.to_string()),
        ));
    }
    let mut failed = 0;
    for (channel, r) in &results {
        match r {
            Ok(what) => crate::outln!("{channel:<9} delivered: {what}"),
            Err(e) => {
                failed += 1;
                crate::outln!("{channel:<9} FAILED: {e}");
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(AppError::failure(
            format!("{failed} of {} alert channel(s) failed", results.len()),
            None,
        ))
    }
}
