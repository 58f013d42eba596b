//! Every fault kind, observed over a raw TCP client.

use std::time::Duration;

use tack_test_registry::{sha512_integrity, Fault, FaultKind, RegistryOptions, TestRegistry};

use crate::client::get;

const TGZ: &str = "/is-odd/-/is-odd-3.0.1.tgz";

async fn registry() -> TestRegistry {
    TestRegistry::start(RegistryOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn statuses_fire_in_order_then_success() {
    let reg = registry().await;
    reg.inject(Fault::status(TGZ, 500).times(1));
    reg.inject(Fault::status(TGZ, 503).times(1));
    reg.inject(Fault::status(TGZ, 408).times(1));
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 500);
    // Another path is untouched while faults are pending.
    assert_eq!(get(reg.addr(), "/is-odd", &[]).await.status, 200);
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 503);
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 408);
    let ok = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        Some(sha512_integrity(&ok.body)),
        reg.integrity("is-odd", "3.0.1")
    );
    let statuses: Vec<u16> = reg
        .requests()
        .iter()
        .filter(|r| r.is_for(TGZ))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![500, 503, 408, 200]);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let reg = registry().await;
    reg.inject(Fault::new(
        "*.tgz",
        FaultKind::Status {
            code: 429,
            retry_after: Some(7),
        },
    ));
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("7"));
    // Permanent until cleared.
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 429);
    reg.clear_faults();
    assert_eq!(get(reg.addr(), TGZ, &[]).await.status, 200);
}

#[tokio::test]
async fn delay_holds_the_response() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::Delay(Duration::from_secs(3600))).times(1));
    let waited = tokio::time::timeout(Duration::from_millis(300), get(reg.addr(), TGZ, &[])).await;
    assert!(
        waited.is_err(),
        "a delayed response must not arrive: {waited:?}"
    );
}

#[tokio::test]
async fn truncated_body_declares_more_than_it_sends() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::Truncate { send: 100 }).times(1));
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), 100);
    assert_eq!(
        res.content_length(),
        reg.tarball("is-odd", "3.0.1").map(|t| t.len())
    );
}

#[tokio::test]
async fn corrupt_body_keeps_length_but_breaks_integrity() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::Corrupt).times(1));
    let res = get(reg.addr(), TGZ, &[]).await;
    let good = reg.tarball("is-odd", "3.0.1").unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), good.len());
    assert_ne!(res.body, good);
    assert_ne!(
        Some(sha512_integrity(&res.body)),
        reg.integrity("is-odd", "3.0.1")
    );
}

#[tokio::test]
async fn reset_before_response() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::Reset).times(1));
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.status, 0);
    assert!(res.body.is_empty());
    assert_eq!(res.read_error, Some(std::io::ErrorKind::ConnectionReset));
    assert_eq!(reg.requests()[0].fault, Some("reset"));
}

#[tokio::test]
async fn reset_in_the_middle_of_the_body() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::ResetAfter { after: 50 }).times(1));
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.status, 200);
    assert!(res.body.len() <= 50, "{}", res.body.len());
    assert_eq!(res.read_error, Some(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn slow_drip_delivers_everything_in_small_pieces() {
    let reg = registry().await;
    reg.inject(
        Fault::new(
            TGZ,
            FaultKind::SlowDrip {
                bytes: 512,
                every: Duration::from_millis(5),
            },
        )
        .times(1),
    );
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, reg.tarball("is-odd", "3.0.1").unwrap());
    assert_eq!(reg.requests()[0].fault, Some("slow-drip"));
}

#[tokio::test]
async fn slow_drip_is_slow() {
    let reg = registry().await;
    reg.inject(Fault::new(
        TGZ,
        FaultKind::SlowDrip {
            bytes: 1,
            every: Duration::from_secs(3600),
        },
    ));
    let waited = tokio::time::timeout(Duration::from_millis(300), get(reg.addr(), TGZ, &[])).await;
    assert!(
        waited.is_err(),
        "a dripped body must not complete: {waited:?}"
    );
}

#[tokio::test]
async fn html_error_page_with_status_200() {
    let reg = registry().await;
    reg.inject(Fault::new("/is-odd*", FaultKind::HtmlPage).times(2));
    for path in ["/is-odd", TGZ] {
        let res = get(reg.addr(), path, &[]).await;
        assert_eq!(res.status, 200);
        assert!(res.header("content-type").unwrap().starts_with("text/html"));
        assert!(res.body.starts_with(b"<!DOCTYPE html>"));
    }
    assert_eq!(
        get(reg.addr(), "/is-odd", &[]).await.json()["name"],
        "is-odd"
    );
}

#[tokio::test]
async fn wrong_content_length_is_sent_as_is() {
    let reg = registry().await;
    reg.inject(Fault::new(TGZ, FaultKind::WrongContentLength { declared: 10 }).times(1));
    let res = get(reg.addr(), TGZ, &[]).await;
    assert_eq!(res.content_length(), Some(10));
    assert_eq!(res.body, reg.tarball("is-odd", "3.0.1").unwrap());
}
