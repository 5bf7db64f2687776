//! `limits` against the reference server: a clean configuration holds, and
//! each broken one (wrong limit, fixed window, restarting window, racy
//! counter, header-keyed bucket, shared bucket) is classified as such.

use std::time::Duration;

use chat_harness::client::ClientConfig;
use chat_harness::contract::{Endpoint, LimitsTable};
use chat_harness::limits::report::{LimitsReport, Status};
use chat_harness::limits::window::WindowKind;
use chat_harness::limits::{measure_all, LimitsConfig};
use chat_harness::reference::{serve, Defect, ServerConfig};

const WINDOW: u64 = 3;

fn table(limit: u32) -> LimitsTable {
    let mut t = LimitsTable {
        window_seconds: WINDOW,
        ..Default::default()
    };
    for v in t.limits.values_mut() {
        *v = limit;
    }
    t
}

/// Runs `limits` expecting `expect` against a reference server configured
/// with `server_limit` on every endpoint and the given defects.
async fn run(
    expect: u32,
    server_limit: u32,
    defects: &[Defect],
    only: &[Endpoint],
) -> LimitsReport {
    run_with(2, expect, server_limit, defects, only).await
}

/// As `run`, acting as the first `accounts` users of the reference server
/// (the README's minimum is two).
async fn run_with(
    accounts: usize,
    expect: u32,
    server_limit: u32,
    defects: &[Defect],
    only: &[Endpoint],
) -> LimitsReport {
    let mut cfg = ServerConfig::default()
        .with_window(WINDOW)
        .with_generated_users(3);
    for e in Endpoint::LIMITED {
        cfg = cfg.with_limit(e, server_limit);
    }
    for d in defects {
        cfg = cfg.with_defect(*d);
    }
    let server = serve(cfg, ([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut config = LimitsConfig::new(table(expect), only).unwrap();
    config.progress = false;
    let mut base = ClientConfig::new(server.url());
    base.timeout = Duration::from_secs(5);
    let accounts = server.core().accounts()[..accounts].to_vec();
    let report = measure_all(&base, &server.url(), true, &accounts, &config)
        .await
        .unwrap();
    server.shutdown().await;
    // Every report as written, valid against the schema.
    let dir = tempfile::tempdir().unwrap();
    chat_harness::limits::write_reports(dir.path(), &report).unwrap();
    crate::schema::assert_file_valid(
        chat_harness::limits::report::SCHEMA,
        &dir.path().join("limits.json"),
    );
    report
}

fn endpoint(r: &LimitsReport, e: Endpoint) -> &chat_harness::limits::report::EndpointReport {
    r.endpoints
        .iter()
        .find(|x| x.endpoint == e)
        .unwrap_or_else(|| panic!("{e} not measured"))
}

#[tokio::test]
async fn a_clean_configuration_holds() {
    let r = run(10, 10, &[], &[]).await;
    print!("{}", chat_harness::limits::report::console(&r));
    assert!(r.holds, "{}", chat_harness::limits::report::console(&r));
    assert_eq!(r.endpoints.len(), 6);
    for e in &r.endpoints {
        assert_eq!(e.observed, Some(10), "{}", e.endpoint);
        assert_eq!(
            e.window.as_ref().unwrap().kind,
            WindowKind::Sliding,
            "{}",
            e.endpoint
        );
        assert_eq!(
            e.atomicity.run.as_ref().unwrap().accepted,
            10,
            "{}",
            e.endpoint
        );
        assert_eq!(
            e.isolation.status,
            Status::Ok,
            "{}: {}",
            e.endpoint,
            e.isolation.detail
        );
    }
    assert_eq!(
        endpoint(&r, Endpoint::Login)
            .forwarded_for
            .as_ref()
            .unwrap()
            .status,
        Status::Ok
    );
    assert_eq!(
        endpoint(&r, Endpoint::SendMessage).refusal.had_effect,
        Some(false)
    );
    assert_eq!(chat_harness::limits::exit_code_of(&r), 0);
}

#[tokio::test]
async fn a_wrong_limit_is_reported_with_both_numbers() {
    let r = run(10, 12, &[], &[Endpoint::GetChats]).await;
    let e = endpoint(&r, Endpoint::GetChats);
    assert_eq!(e.observed, Some(12));
    assert_eq!(e.limit.status, Status::Fail);
    assert!(
        e.limit
            .detail
            .contains("12 accepted before the first refusal, expected 10"),
        "{}",
        e.limit.detail
    );
    assert!(!r.holds);
    assert_eq!(chat_harness::limits::exit_code_of(&r), 1);
}

#[tokio::test]
async fn a_fixed_window_is_classified() {
    let r = run(10, 10, &[Defect::FixedWindow], &[Endpoint::GetMessages]).await;
    let e = endpoint(&r, Endpoint::GetMessages);
    print!("{}", chat_harness::limits::report::console(&r));
    assert_eq!(
        e.window.as_ref().unwrap().kind,
        WindowKind::Fixed,
        "{:?}",
        e.window
    );
    assert_eq!(e.window_finding.status, Status::Fail);
}

#[tokio::test]
async fn a_window_restarting_on_requests_is_classified() {
    let r = run(
        10,
        10,
        &[Defect::WindowRestartsOnRequest],
        &[Endpoint::GetChats],
    )
    .await;
    let e = endpoint(&r, Endpoint::GetChats);
    assert_eq!(
        e.window.as_ref().unwrap().kind,
        WindowKind::RestartOnRequest,
        "{:?}",
        e.window
    );
}

#[tokio::test]
async fn a_racy_counter_is_not_atomic() {
    let r = run(10, 10, &[Defect::RacyCounter], &[Endpoint::SendMessage]).await;
    let e = endpoint(&r, Endpoint::SendMessage);
    assert_eq!(
        e.atomicity.finding.status,
        Status::Fail,
        "{}",
        e.atomicity.finding.detail
    );
    assert!(e.atomicity.run.as_ref().unwrap().accepted > 10);
}

#[tokio::test]
async fn a_header_keyed_bucket_is_a_bypass() {
    let r = run(10, 10, &[Defect::TrustForwardedFor], &[Endpoint::Login]).await;
    let e = endpoint(&r, Endpoint::Login);
    let xff = e.forwarded_for.as_ref().unwrap();
    assert_eq!(xff.status, Status::Fail);
    assert!(xff.detail.contains("bypass"));
}

#[tokio::test]
async fn a_shared_bucket_breaks_isolation() {
    let r = run(10, 10, &[Defect::SharedBucket], &[Endpoint::GetChats]).await;
    let e = endpoint(&r, Endpoint::GetChats);
    assert_eq!(e.isolation.status, Status::Fail, "{}", e.isolation.detail);
}
