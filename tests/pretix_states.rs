//! Against a real pretix (issue 17, A and C): products pretix hides are watched for, and every
//! state pretix renders is read as pretix means it, with no cart add for one that can't be bought.
//! pretix's own view (the quota's cart positions) says what was reserved.

use serde_json::json;

use crate::support::pretix::{Event, Pretix};

async fn event(prefix: &str) -> Event {
    Pretix::get().event(prefix, json!({})).await
}

/// `--item <id>` on the shop strategy.
fn shop_item(id: u64) -> Vec<String> {
    vec![
        "--strategy".into(),
        "shop".into(),
        "--item".into(),
        id.to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_product_the_shop_hides_is_watched_for_and_carted_when_it_returns() {
    let e = event("hide").await;
    e.settings(json!({"hide_sold_out": true})).await;
    let late = e.item("Late ticket", "50.00", json!({})).await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    e.quota(5, &[late], &[], json!({})).await;
    let quota = e.quota(0, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e.race(shop_item(item)).spawn().await;
    let line = w.wait_for(&format!("product {item} is not on")).await;
    assert!(line.contains(&format!("{late} Late ticket")), "{line}");
    w.wait_for("1 product (1 available)").await;
    e.set_quota(quota, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_hidden_until_its_sale_starts_is_carted_when_it_appears() {
    let e = event("from").await;
    let other = e.item("Day ticket", "50.00", json!({})).await;
    let item = e
        .item(
            "Early bird",
            "40.00",
            json!({"available_from": "2035-01-01T00:00:00Z", "available_from_mode": "hide"}),
        )
        .await;
    e.quota(5, &[other], &[], json!({})).await;
    let quota = e.quota(3, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e.race(shop_item(item)).spawn().await;
    w.wait_for(&format!("product {item} is not on")).await;
    w.wait_for("#0002").await;
    e.patch(
        &format!("/items/{item}/"),
        json!({"available_from": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_booking_period_nothing_is_posted_and_the_sale_start_is_won() {
    let e = event("early").await;
    e.patch("/", json!({"presale_start": "2035-01-01T00:00:00Z"}))
        .await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    let quota = e.quota(2, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e.race(shop_item(item)).spawn().await;
    let line = w.wait_for("Ticket (").await;
    assert!(line.contains("not on sale"), "{line}");
    w.wait_for("1 product (0 available) · 1 not on sale").await;
    w.wait_for("#0003").await;
    assert!(
        !w.seen.iter().any(|l| l.contains("cart add")),
        "no cart add for a product pretix renders disabled: {:?}",
        w.seen
    );
    assert_eq!(e.availability(quota).await["cart_positions"], 0);
    e.patch("/", json!({"presale_start": "2020-01-01T00:00:00Z"}))
        .await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_list_reserved_and_voucher_only_are_told_apart_and_never_posted() {
    let e = event("states").await;
    e.settings(json!({"waiting_list_enabled": true})).await;
    let wl = e
        .item("Waitlisted", "90.00", json!({"allow_waitinglist": true}))
        .await;
    let vo = e
        .item("Crew", "0.00", json!({"require_voucher": true}))
        .await;
    let reserved = e.item("Reserved one", "20.00", json!({})).await;
    let hidden = e
        .item("Secret", "10.00", json!({"hide_without_voucher": true}))
        .await;
    e.quota(0, &[wl], &[], json!({})).await;
    e.quota(5, &[vo, hidden], &[], json!({})).await;
    let rq = e.quota(1, &[reserved], &[], json!({})).await;
    e.go_live().await;
    // Someone else holds the last "Reserved one" in a cart.
    let holder = e.race(shop_item(reserved)).spawn().await.wait().await;
    assert_eq!(holder.code, 0, "{holder:?}");
    assert_eq!(e.availability(rq).await["cart_positions"], 1);
    let mut w = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &wl.to_string(),
            "--item",
            &vo.to_string(),
            "--item",
            &reserved.to_string(),
            "--item",
            &hidden.to_string(),
        ])
        .spawn()
        .await;
    w.wait_for(&format!("product {hidden} is not on")).await;
    let poll = w.wait_for("3 products (0 available)").await;
    assert!(
        poll.contains("1 sold out (waiting list), 1 reserved, 1 voucher only"),
        "{poll}"
    );
    w.wait_for("#0003").await;
    let d = w.interrupt().await;
    for (name, words) in [
        ("Waitlisted", "waiting list"),
        ("Reserved one", "reserved in someone's cart"),
        ("Crew", "only with a voucher"),
    ] {
        assert!(
            d.stderr
                .lines()
                .any(|l| l.contains(&format!("{name} (")) && l.contains(words)),
            "{name}: {words}: {d:?}"
        );
    }
    assert!(!d.stderr.contains("cart add"), "{d:?}");
    assert!(!d.stderr.contains("went to someone faster"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_hiding_its_only_product_is_watched_not_taken_for_an_organisers_page() {
    let e = event("none").await;
    e.settings(json!({"hide_sold_out": true})).await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    let quota = e.quota(0, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e.race(shop_item(item)).spawn().await;
    let line = w.wait_for(&format!("product {item} is not on")).await;
    assert!(line.contains("watching for it"), "{line}");
    w.wait_for("#0003").await;
    e.set_quota(quota, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!d.stderr.contains("organiser"), "{d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_item_id_is_watched_for_as_pretix_cannot_tell_it_from_a_hidden_one() {
    // pretix's page and its widget product list (`widget/product_list`) leave out the same
    // products (hidden until a sale, sold out under "hide sold-out", voucher-only) and say
    // nothing of it: no public page proves an id wrong, so the watch goes on and says so.
    let e = event("wrong").await;
    let item = e.item("Day ticket", "50.00", json!({})).await;
    let quota = e.quota(5, &[item], &[], json!({})).await;
    e.go_live().await;
    let mut w = e.race(shop_item(999_999)).spawn().await;
    let line = w.wait_for("product 999999 is not on").await;
    assert!(line.contains(&format!("{item} Day ticket")), "{line}");
    assert!(
        line.contains("watching for it") && line.contains("tells a hidden product from a wrong id"),
        "{line}"
    );
    w.wait_for("#0002").await;
    let d = w.interrupt().await;
    assert_eq!(d.stderr.matches("is not on").count(), 1, "said once: {d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 0);
}
