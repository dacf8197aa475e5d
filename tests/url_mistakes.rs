//! The URL mistakes a fan makes (issue 17, F), each with a message that says what was meant.

use crate::support::bare;

#[tokio::test]
async fn an_event_page_without_its_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(&["pretix.eu/demo/democon/", "--headless"], dir.path()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("neither a strategy file nor a URL"), "{err}");
    assert!(
        err.contains("did you mean https://pretix.eu/demo/democon/"),
        "{err}"
    );
    assert!(!err.contains("--script"), "{err}");
    let (code, _, err) = bare(
        &["--url", "pretix.eu/demo", "--event", "democon"],
        dir.path(),
    )
    .await;
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("did you mean https://pretix.eu/demo"), "{err}");
}

#[tokio::test]
async fn the_event_inside_url_and_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = bare(
        &["--url", "https://pretix.eu/demo/democon", "--headless"],
        dir.path(),
    )
    .await;
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("without --event"), "{err}");
    assert!(
        err.contains("--url https://pretix.eu/demo --event democon"),
        "{err}"
    );
    assert!(!err.contains("is not an event slug"), "{err}");
}
