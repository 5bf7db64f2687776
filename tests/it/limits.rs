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

/// Every finding of every endpoint (and the tokens finding) is observed:
/// nothing is `error`.
fn assert_no_error(r: &LimitsReport) {
    let text = chat_harness::limits::report::console(r);
    assert_ne!(r.tokens.status, Status::Error, "{text}");
    for e in &r.endpoints {
        for f in [
            &e.limit,
            &e.remaining,
            &e.reset,
            &e.refusal.finding,
            &e.window_finding,
            &e.isolation,
            &e.atomicity.finding,
        ] {
            assert_ne!(
                f.status,
                Status::Error,
                "{}: {}\n{text}",
                e.endpoint,
                f.detail
            );
        }
    }
}

#[tokio::test]
async fn fewer_than_two_accounts_with_passwords_is_a_usage_error() {
    let server = serve(ServerConfig::default(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let mut accounts = server.core().accounts();
    accounts[1].password = None;
    accounts.truncate(2);
    let config = LimitsConfig::new(table(10), &[Endpoint::GetChats]).unwrap();
    let base = ClientConfig::new(server.url());
    let e = measure_all(&base, &server.url(), true, &accounts, &config)
        .await
        .expect_err("a usage error");
    let text = e.to_string();
    assert!(e.is::<chat_harness::error::UsageError>(), "{text}");
    assert!(text.contains("2 accounts with passwords"), "{text}");
    assert!(text.contains("got 1"), "{text}");
    assert!(
        text.contains(&accounts[1].email),
        "names the account without one: {text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn refusals_as_417_with_no_retry_after_are_refusals() {
    let r = run(10, 10, &[Defect::RefuseWith417], &[]).await;
    assert_no_error(&r);
    for e in &r.endpoints {
        assert_eq!(e.observed, Some(10), "{}", e.endpoint);
        assert_eq!(e.refusal.status, Some(417), "{}", e.endpoint);
        assert_eq!(
            e.refusal.finding.status,
            Status::Warn,
            "{}",
            e.refusal.finding.detail
        );
        assert!(e.refusal.form.as_deref().unwrap().contains("HTTP 417"));
        assert_eq!(
            e.atomicity.finding.status,
            Status::Ok,
            "{}",
            e.atomicity.finding.detail
        );
    }
    assert!(r.holds, "{}", chat_harness::limits::report::console(&r));
}

#[tokio::test]
async fn rate_values_in_the_body_fail_the_headers_not_the_counting() {
    let only = [Endpoint::GetMessages, Endpoint::Login];
    let r = run(10, 10, &[Defect::RateHeadersInBody], &only).await;
    assert_no_error(&r);
    for e in &r.endpoints {
        assert_eq!(e.observed, Some(10), "{}", e.endpoint);
        assert_eq!(e.remaining.status, Status::Fail, "{}", e.endpoint);
        assert_eq!(e.refusal.finding.status, Status::Fail, "{}", e.endpoint);
        assert_eq!(
            e.refusal.values_in,
            Some(chat_harness::contract::refusal::ValuesIn::Body)
        );
        assert_eq!(e.window.as_ref().unwrap().kind, WindowKind::Sliding);
    }
}

#[tokio::test]
async fn a_new_secret_at_every_login_leaves_no_stale_token() {
    let r = run(10, 10, &[Defect::RotateOnLogin], &[]).await;
    assert_no_error(&r);
    assert_eq!(r.tokens.status, Status::Ok, "{}", r.tokens.detail);
    assert!(r.holds, "{}", chat_harness::limits::report::console(&r));
}

#[tokio::test]
async fn a_pair_revoked_before_the_run_is_the_tokens_finding() {
    let cfg = ServerConfig::default()
        .with_window(WINDOW)
        .with_limit(Endpoint::GetChats, 10)
        .with_defect(Defect::RotateOnLogin);
    let server = serve(cfg, ([127, 0, 0, 1], 0).into()).await.unwrap();
    let accounts = server.core().accounts()[..2].to_vec();
    // Someone logs B in elsewhere: the pair in the accounts is revoked.
    let client = chat_harness::client::Client::new(ClientConfig::new(server.url())).unwrap();
    client
        .login(&accounts[1].email, accounts[1].password.as_deref().unwrap())
        .await
        .unwrap();
    let mut config = LimitsConfig::new(table(10), &[Endpoint::GetChats]).unwrap();
    config.progress = false;
    let r = measure_all(
        &ClientConfig::new(server.url()),
        &server.url(),
        true,
        &accounts,
        &config,
    )
    .await
    .unwrap();
    server.shutdown().await;
    assert_eq!(r.tokens.status, Status::Fail, "{}", r.tokens.detail);
    assert!(r.tokens.detail.contains("revoked"), "{}", r.tokens.detail);
    assert_no_error(&r);
    let e = endpoint(&r, Endpoint::GetChats);
    assert_eq!(e.isolation.status, Status::Ok, "{}", e.isolation.detail);
    assert_eq!(chat_harness::limits::exit_code_of(&r), 1);
}

#[tokio::test]
async fn a_login_that_empties_the_buckets_is_a_window_finding() {
    let only = [Endpoint::GetChats, Endpoint::SendMessage];
    let r = run(10, 10, &[Defect::LoginResetsWindow], &only).await;
    assert_no_error(&r);
    for e in &r.endpoints {
        assert_eq!(e.window_finding.status, Status::Fail, "{}", e.endpoint);
        assert!(
            e.window_finding.detail.contains("emptied-by-login"),
            "{}",
            e.window_finding.detail
        );
        assert_eq!(e.window.as_ref().unwrap().kind, WindowKind::EmptiedByLogin);
        assert_eq!(e.limit.status, Status::Ok, "{}", e.limit.detail);
    }
}

#[tokio::test]
async fn a_server_error_under_concurrency_is_an_atomicity_failure() {
    let only = [Endpoint::SendMessage, Endpoint::Signup];
    let r = run(10, 10, &[Defect::DeadlockUnderConcurrency], &only).await;
    assert_no_error(&r);
    for e in &r.endpoints {
        assert_eq!(e.atomicity.finding.status, Status::Fail, "{}", e.endpoint);
        assert!(
            e.atomicity.finding.detail.contains("HTTP 500"),
            "{}",
            e.atomicity.finding.detail
        );
        assert_eq!(e.limit.status, Status::Ok, "{}", e.limit.detail);
    }
}

#[tokio::test]
async fn more_accounts_run_atomicity_at_once() {
    let r = run_with(3, 10, 10, &[], &[Endpoint::GetChats]).await;
    assert!(r.holds, "{}", chat_harness::limits::report::console(&r));
    assert_eq!(r.accounts, 3);
}

/// Requests counted before the run (a `call` a moment ago, an earlier run
/// in the same window) are no reason to fail: the probe sees Remaining
/// lower than a fresh bucket's, waits for them to age out, and measures the
/// limit from an idle bucket.
#[tokio::test]
async fn buckets_spent_before_the_run_are_waited_out_not_failed() {
    use chat_harness::client::{Client, Request};
    let mut cfg = ServerConfig::default()
        .with_window(WINDOW)
        .with_generated_users(3);
    for e in Endpoint::LIMITED {
        cfg = cfg.with_limit(e, 10);
    }
    let server = serve(cfg, ([127, 0, 0, 1], 0).into()).await.unwrap();
    let accounts = server.core().accounts()[..2].to_vec();
    // The first account spends a little of three buckets, as a user's
    // `chat-harness call` would.
    let client = Client::new(ClientConfig::new(server.url())).unwrap();
    let creds = accounts[0].credentials().unwrap();
    let other = accounts[1].email.clone();
    let chat = client
        .send(
            &Request::to(Endpoint::CreateChat)
                .token(&creds)
                .param("chat_name", "before")
                .param("participants", format!("[\"{other}\"]")),
        )
        .await
        .unwrap();
    assert_eq!(chat.status, 200);
    for e in [Endpoint::GetChats, Endpoint::GetChats] {
        assert_eq!(
            client
                .send(&Request::to(e).token(&creds))
                .await
                .unwrap()
                .status,
            200
        );
    }
    let mut config =
        LimitsConfig::new(table(10), &[Endpoint::CreateChat, Endpoint::GetChats]).unwrap();
    config.progress = false;
    let mut base = ClientConfig::new(server.url());
    base.timeout = Duration::from_secs(5);
    let report = measure_all(&base, &server.url(), true, &accounts, &config)
        .await
        .unwrap();
    server.shutdown().await;
    let text = chat_harness::limits::report::console(&report);
    assert!(report.holds, "{text}");
    for e in &report.endpoints {
        assert_eq!(e.observed, Some(10), "{}: {text}", e.endpoint);
    }
}

/// `check` spends the whole login bucket of this machine's address (RL-7.2),
/// and `limits` is often the next step of the same CI job: its set-up logins
/// must wait the refusal out, not end the run as "cannot log in" (exit 3).
#[tokio::test]
async fn a_login_quota_spent_before_the_run_is_waited_out_not_failed() {
    use chat_harness::client::Client;
    let mut cfg = ServerConfig::default()
        .with_window(WINDOW)
        .with_generated_users(3);
    for e in Endpoint::LIMITED {
        cfg = cfg.with_limit(e, 10);
    }
    let server = serve(cfg, ([127, 0, 0, 1], 0).into()).await.unwrap();
    // Email and password only, as `--user` gives them: limits logs in.
    let accounts: Vec<_> = server.core().accounts()[..2]
        .iter()
        .map(|a| chat_harness::accounts::Account {
            api_key: None,
            api_secret: None,
            ..a.clone()
        })
        .collect();
    let client = Client::new(ClientConfig::new(server.url())).unwrap();
    let (email, pwd) = (&accounts[0].email, accounts[0].password.clone().unwrap());
    let mut refused = false;
    for _ in 0..11 {
        match client.login(email, &pwd).await {
            Ok(_) => {}
            Err(e) => {
                refused = true;
                assert!(e.to_string().contains("429"), "{e}");
                break;
            }
        }
    }
    assert!(refused, "the login bucket of 10 was spent");
    let mut config = LimitsConfig::new(table(10), &[Endpoint::GetChats]).unwrap();
    config.progress = false;
    let mut base = ClientConfig::new(server.url());
    base.timeout = Duration::from_secs(5);
    let report = measure_all(&base, &server.url(), true, &accounts, &config)
        .await
        .expect("the set-up logins wait for the login quota");
    server.shutdown().await;
    let text = chat_harness::limits::report::console(&report);
    assert!(report.holds, "{text}");
}
