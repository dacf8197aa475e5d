//! Against a real pretix (issue 17, E): fewer reserved than --count asked for is said, at the
//! cart and in the hand-over block; pretix's quota shows what was reserved.

use serde_json::json;

use crate::support::pretix::Pretix;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_two_with_one_left_reserves_one_and_says_so() {
    let e = Pretix::get().event("count", json!({})).await;
    let item = e.item("Ticket", "90.00", json!({})).await;
    let quota = e.quota(1, &[item], &[], json!({})).await;
    e.go_live().await;
    let d = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &item.to_string(),
            "--count",
            "2",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("1 of 2 reserved"), "{d:?}");
    assert!(
        d.stdout.contains("Reserved: 1 of 2"),
        "in the hand-over block: {d:?}"
    );
    assert_eq!(e.availability(quota).await["cart_positions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_three_with_max_per_order_two_says_two_of_three() {
    let e = Pretix::get().event("maxo", json!({})).await;
    let item = e.item("Ticket", "90.00", json!({"max_per_order": 2})).await;
    let quota = e.quota(10, &[item], &[], json!({})).await;
    e.go_live().await;
    let d = e
        .race([
            "--strategy",
            "shop",
            "--item",
            &item.to_string(),
            "--count",
            "3",
        ])
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stderr.contains("2 of 3 reserved"), "{d:?}");
    assert!(d.stdout.contains("Reserved: 2 of 3"), "{d:?}");
    assert_eq!(e.availability(quota).await["cart_positions"], 2);
}
