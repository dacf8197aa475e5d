//! Against a real pretix (issue 17, B, D, F): an event series' dates, vouchers, and the
//! organiser's page given for an event. pretix's quotas say what was reserved.

use serde_json::json;

use crate::support::pretix::{Event, ORG, Pretix, Watch};

/// A series with two dates ("Saturday" 2030-07-13, "Sunday" 2030-07-14), one "Pass" each,
/// sold out; returns (event, item, [(date id, quota id)]).
async fn series() -> (Event, u64, Vec<(u64, u64)>) {
    let e = Pretix::get()
        .event("fest", json!({"has_subevents": true}))
        .await;
    let item = e.item("Pass", "60.00", json!({})).await;
    let mut dates = Vec::new();
    for (name, day) in [("Saturday", "2030-07-13"), ("Sunday", "2030-07-14")] {
        let d = e
            .post(
                "/subevents/",
                json!({"name": {"en": name}, "date_from": format!("{day}T10:00:00Z"), "active": true, "meta_data": {},
                       "item_price_overrides": [], "variation_price_overrides": []}),
            )
            .await["id"]
            .as_u64()
            .unwrap();
        let q = e.quota(0, &[item], &[], json!({"subevent": d})).await;
        dates.push((d, q));
    }
    e.go_live().await;
    (e, item, dates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_without_a_date_lists_its_dates() {
    let (e, item, dates) = series().await;
    let d = e
        .race(["--strategy", "shop", "--item", &item.to_string()])
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr.contains("is an event series: which date?"),
        "{d:?}"
    );
    assert!(
        d.stderr
            .contains(&format!("{} Saturday (2030-07-13)", dates[0].0))
            && d.stderr
                .contains(&format!("{} Sunday (2030-07-14)", dates[1].0)),
        "{d:?}"
    );
    assert!(!d.stderr.contains("cart add"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dates_are_watched_and_the_one_that_returns_is_carted() {
    let (e, item, dates) = series().await;
    let mut w = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &item.to_string(),
            "--date",
            "2030-07-13",
            "--date",
            "sunday",
        ])
        .spawn()
        .await;
    w.wait_for("[Saturday 2030-07-13] watching").await;
    // The poll lines name the date's page.
    w.wait_for(&format!("— /{ORG}/{}/{}/", e.slug, dates[1].0))
        .await;
    e.set_quota(dates[1].1, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("[Sunday 2030-07-14]"), "{d:?}");
    assert_eq!(e.availability(dates[1].1).await["cart_positions"], 1);
    assert_eq!(e.availability(dates[0].1).await["cart_positions"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_unlocks_a_hidden_product_and_a_wrong_one_is_refused() {
    let e = Pretix::get().event("vouch", json!({})).await;
    let open = e.item("Ticket", "90.00", json!({})).await;
    let crew = e
        .item("Crew", "0.00", json!({"hide_without_voucher": true}))
        .await;
    e.quota(5, &[open], &[], json!({})).await;
    let q = e.quota(1, &[crew], &[], json!({})).await;
    e.post(
        "/vouchers/",
        json!({"code": "CREW-ONE", "max_usages": 1, "item": crew, "block_quota": false}),
    )
    .await;
    e.go_live().await;
    let wrong = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &crew.to_string(),
            "--voucher",
            "NOPE",
        ])
        .run()
        .await;
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("pretix refused the voucher NOPE"),
        "{wrong:?}"
    );
    // The voucher given as pretix's own link reads it: `…/event/?voucher=CODE`.
    let d = Watch::new(e.pretix)
        .arg(format!("{}?voucher=CREW-ONE", e.url()))
        .arg("--strategy")
        .arg("shop")
        .arg("--item")
        .arg(crew.to_string())
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("/redeem"), "{d:?}");
    assert_eq!(e.availability(q).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisers_page_given_for_an_event_lists_its_events() {
    let e = Pretix::get().event("orgp", json!({})).await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    e.quota(0, &[item], &[], json!({})).await;
    e.go_live().await;
    let d = Watch::new(e.pretix)
        .arg(format!("{}/{ORG}/", e.pretix.base))
        .arg("--strategy")
        .arg("shop")
        .arg("--item")
        .arg("1")
        .run()
        .await;
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        d.stderr.contains("is an organiser's page, not an event"),
        "{d:?}"
    );
    assert!(d.stderr.contains(&e.slug), "its events are listed: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_for_one_date_of_a_series_is_redeemed_on_that_date() {
    let (e, item, dates) = series().await;
    e.post(
        "/vouchers/",
        json!({"code": "FEST-SUN", "max_usages": 1, "item": item, "subevent": dates[1].0}),
    )
    .await;
    let mut w = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &item.to_string(),
            "--date",
            "Sunday",
            "--voucher",
            "FEST-SUN",
        ])
        .spawn()
        .await;
    w.wait_for(&format!("redeem?voucher=FEST-SUN&subevent={}", dates[1].0))
        .await;
    w.wait_for("1 product (0 available)").await;
    e.set_quota(dates[1].1, 1).await;
    let d = w.wait().await;
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(e.availability(dates[1].1).await["cart_positions"], 1);
    assert_eq!(e.availability(dates[0].1).await["cart_positions"], 0);
}
