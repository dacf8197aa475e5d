//! The main-shop strategy against a real pretix (issue 17): each test builds its own event
//! through pretix's REST API, changes it while the binary watches, and checks pretix's own
//! view of the outcome (the quota's cart positions), not only what the binary says.

use serde_json::json;

use crate::support::pretix::{Event, Pretix};

async fn event(prefix: &str) -> Event {
    Pretix::get().event(prefix, json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_ticket_is_carted_when_the_quota_is_raised() {
    let e = event("sold").await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    let quota = e.quota(0, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e
        .race(["--strategy", "shop", "--item", &item.to_string()])
        .spawn()
        .await;
    w.wait_for("1 product (0 available)").await;
    assert_eq!(e.availability(quota).await["cart_positions"], 0);
    e.set_quota(quota, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("=== TICKET IN CART ==="), "{d:?}");
    assert!(d.stdout.contains("/checkout/"), "{d:?}");
    let a = e.availability(quota).await;
    assert_eq!(a["cart_positions"], 1, "pretix holds our cart: {a}");
    assert_eq!(a["available_number"], 0, "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variation_comes_back_and_only_it_is_carted() {
    let e = event("vari").await;
    let shirt = e
        .post(
            "/items/",
            json!({
                "name": {"en": "Shirt"}, "default_price": "25.00", "active": true,
                "admission": false, "has_variations": true,
                "variations": [
                    {"value": {"en": "S"}, "active": true},
                    {"value": {"en": "XL"}, "active": true},
                ],
            }),
        )
        .await;
    let item = shirt["id"].as_u64().unwrap();
    let vars: Vec<u64> = shirt["variations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    let small = e.quota(5, &[item], &[vars[0]], json!({})).await;
    let xl = e.quota(0, &[item], &[vars[1]], json!({})).await;
    e.go_live().await;
    let mut w = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &item.to_string(),
            "--variation",
            &vars[1].to_string(),
        ])
        .spawn()
        .await;
    // S is on sale all along: only XL is wanted.
    w.wait_for("2 products (1 available)").await;
    e.set_quota(xl, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("Shirt – XL"), "{d:?}");
    assert_eq!(e.availability(xl).await["cart_positions"], 1);
    assert_eq!(e.availability(small).await["cart_positions"], 0);
}
