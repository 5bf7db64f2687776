//! The conformance suite against conforming variants of the reference server
//! (CONTRACT.md allows each): the whole suite, run as a user runs it (the
//! three default accounts, no flags but a short window), must give exit 0 on
//! every one; a SHOULD the variant gives up is reported non-strict. Also one
//! test per variant showing on the wire that it does what it claims, and the
//! scenario of a second run against the same server inside its window.
//!
//! Cases whose verdicts still depend on the suite's own traffic (quotas spent
//! by earlier checks, timing at high latency) or on fresh users the three
//! accounts cannot provide are kept here but ignored with the reason, until
//! issue 11's budget ledger, latency planning and no-skips work lands (what
//! each one saw is in its `ignore` reason). Run them with
//! `cargo test --test it variants -- --include-ignored --nocapture`; each run
//! prints one line: exit code, failed, errored and non-strict checks, skips.

use std::time::Duration;

use chat_harness::check::runner::{execute, RunOutput};
use chat_harness::check::CheckConfig;
use chat_harness::cli::{Cli, Command};
use chat_harness::client::{Client, ClientConfig, Encoding, Exchange, Request};
use chat_harness::contract::{Endpoint, Timestamp};
use chat_harness::reference::{self, RunningServer, ServerConfig, Variant, DEFAULT_PASSWORD};
use chat_harness::report::model::Outcome;
use clap::Parser;

/// The server's and the suite's window: short, so the slow checks take
/// seconds (the `--window-seconds` a user gives for a test server).
const WINDOW: u64 = 2;

async fn start(variants: &[Variant]) -> RunningServer {
    let mut cfg = ServerConfig::default().with_window(WINDOW);
    for v in variants {
        cfg = cfg.with_variant(*v);
    }
    reference::serve(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .expect("serve")
}

/// `chat-harness --target URL --user alice… --user bob… --user carol… check
/// --window-seconds 2`: the minimum a user gives (README: at least three
/// users), through the command line's own conversion.
fn user_config(url: &str) -> CheckConfig {
    let mut args = vec!["chat-harness".to_owned(), "--target".into(), url.into()];
    for u in ["alice", "bob", "carol"] {
        args.push("--user".into());
        args.push(format!("{u}@example.com:{DEFAULT_PASSWORD}"));
    }
    args.extend(["check", "--window-seconds"].map(String::from));
    args.push(WINDOW.to_string());
    let cli = Cli::try_parse_from(&args).expect("the command line parses");
    let Command::Check(check) = cli.command else {
        panic!("not check")
    };
    let mut c = check.config(&cli.global).expect("a valid check config");
    c.handle_interrupt = false;
    c.color = false;
    c
}

async fn run_suite(url: &str) -> RunOutput {
    run_config(user_config(url)).await
}

async fn run_config(config: CheckConfig) -> RunOutput {
    let mut sink = Vec::new();
    let out = execute(config, &mut sink)
        .await
        .expect("the run starts")
        .expect("not a listing");
    if out.exit_code != 0 && std::env::var_os("CHECK_VERBOSE").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&sink));
    }
    out
}

fn ids(out: &RunOutput, outcome: Outcome) -> Vec<String> {
    out.report
        .checks
        .iter()
        .filter(|c| c.outcome == outcome)
        .map(|c| c.id.clone())
        .collect()
}

/// One line per run for the variant × check table (`--nocapture`).
fn summarize(what: &str, out: &RunOutput) {
    println!(
        "variant {what}: exit {} in {} ms; fail {:?}; error {:?}; non-strict {:?}; skip {}",
        out.exit_code,
        out.report.duration_ms,
        ids(out, Outcome::Fail),
        ids(out, Outcome::Error),
        ids(out, Outcome::NonStrict),
        ids(out, Outcome::Skip).len(),
    );
}

/// Exit 0 and no `fail` or `error`; each one named with what was seen.
fn assert_conformant(what: &str, out: &RunOutput) {
    summarize(what, out);
    let bad: Vec<String> = out
        .report
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::Error))
        .map(|c| {
            format!(
                "{} {}: {} / expected {:?} / seen {:?}",
                c.id,
                c.outcome.as_str(),
                c.message,
                c.expected,
                c.seen
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: a conforming server was failed:\n{}",
        bad.join("\n")
    );
    assert_eq!(out.exit_code, 0, "{what}");
}

async fn suite_on(variants: &[Variant], what: &str) {
    let server = start(variants).await;
    let out = run_suite(&server.url()).await;
    server.shutdown().await;
    assert_conformant(what, &out);
}

/// A SHOULD the variant gives up is reported, non-strict.
fn assert_non_strict(out: &RunOutput, id: &str) {
    let c = out
        .report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    assert_eq!(c.outcome, Outcome::NonStrict, "{id}: {}", c.message);
}

mod suite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain() {
        suite_on(&[], "none").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_list_headers() {
        suite_on(&[Variant::SplitListHeaders], "split-list-headers").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn extra_keys() {
        suite_on(&[Variant::ExtraKeys], "extra-keys").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_close() {
        suite_on(&[Variant::ConnectionClose], "connection-close").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_zone() {
        suite_on(&[Variant::LocalZone], "local-zone").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuse_417() {
        suite_on(&[Variant::Refuse417], "refuse-417").await;
    }

    /// RL-4b (the only clause the variant gives up) must be reported, as
    /// non-strict; with three accounts it is skipped today.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn refuse_417_is_reported_non_strict() {
        let server = start(&[Variant::Refuse417]).await;
        let out = run_suite(&server.url()).await;
        server.shutdown().await;
        assert_conformant("refuse-417", &out);
        assert_non_strict(&out, "RL-4b.1");
    }

    /// `--no-signup` with the three accounts: the checks that want users of
    /// their own borrow the three in turn (once their buckets are idle), so
    /// only the signup checks themselves are not evaluated.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_signup_borrows_the_three_accounts() {
        let server = start(&[]).await;
        let mut config = user_config(&server.url());
        config.signup = false;
        let out = run_config(config).await;
        server.shutdown().await;
        assert_conformant("no-signup", &out);
        let skipped = ids(&out, Outcome::Skip);
        assert_eq!(
            skipped,
            ["AUTH-7.1", "AUTH-7.2"],
            "only signup is not evaluated"
        );
        let plan = out.plan.expect("a plan");
        assert_eq!(plan.signups, 0);
        assert!(plan.lent > 0, "the checks borrowed the shared accounts");
    }

    /// With the three accounts a user gives, every check runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn every_check_runs_with_three_accounts() {
        let server = start(&[]).await;
        let out = run_suite(&server.url()).await;
        server.shutdown().await;
        assert_conformant("none", &out);
        let skipped = ids(&out, Outcome::Skip);
        assert!(skipped.is_empty(), "skipped: {skipped:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serial() {
        suite_on(&[Variant::Serial], "serial").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn latency() {
        // 100 ms on every answer: at the test's 2 s window that is the
        // 300 ms of a slow deployment at a 6 s one (benches/check60.sh runs
        // 300 ms at the contract's 60 s).
        let server = reference::serve(
            ServerConfig::default()
                .with_window(WINDOW)
                .with_latency(Duration::from_millis(100)),
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .expect("serve");
        let out = run_suite(&server.url()).await;
        server.shutdown().await;
        assert_conformant("latency 100 ms", &out);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "physically too slow for a test window: a server answering one request at a time in 300 ms cannot answer a bucket of 100 within the 2 s window, so the rate-limit checks are `error` (too slow to judge), not verdicts; at the contract's 60 s window it takes many minutes (see benches/check60.sh)"]
    async fn serial_with_latency() {
        suite_on(&[Variant::Serial, Variant::Latency], "serial+latency").await;
    }

    /// Not a variant: the same server, two runs back to back, the second
    /// inside the first one's window (its chats and spent buckets remain).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]

    async fn second_run_against_the_same_server() {
        let server = start(&[]).await;
        let first = run_suite(&server.url()).await;
        let second = run_suite(&server.url()).await;
        server.shutdown().await;
        assert_conformant("second run (first)", &first);
        assert_conformant("second run (second)", &second);
    }
}

// ---- each variant does what it claims, on the wire ----

async fn client_for(server: &RunningServer) -> (Client, chat_harness::client::Credentials) {
    let client = Client::new(ClientConfig::new(server.url())).expect("client");
    let alice = server
        .core()
        .accounts()
        .into_iter()
        .find(|a| a.email == "alice@example.com")
        .and_then(|a| a.credentials())
        .expect("alice has a pair");
    (client, alice)
}

fn lines(ex: &Exchange, name: &str) -> Vec<String> {
    ex.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_list_headers_are_several_lines() {
    let server = start(&[Variant::SplitListHeaders]).await;
    let (client, alice) = client_for(&server).await;
    let pre = client
        .send(
            &Request::to(Endpoint::SendMessage)
                .method(http::Method::OPTIONS, Encoding::Query)
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization"),
        )
        .await
        .unwrap();
    let allow = lines(&pre, "access-control-allow-headers");
    assert!(allow.len() > 1, "{allow:?}");
    assert_ne!(allow[0].to_ascii_lowercase(), "authorization");
    assert!(allow
        .iter()
        .any(|l| l.eq_ignore_ascii_case("authorization")));
    assert!(lines(&pre, "access-control-allow-methods").len() > 1);
    let ok = client
        .send(
            &Request::to(Endpoint::GetChats)
                .token(&alice)
                .header("Origin", "http://localhost:5173"),
        )
        .await
        .unwrap();
    assert_eq!(
        lines(&ok, "vary"),
        ["Accept-Encoding", "Origin"],
        "Origin only on the second Vary line"
    );
    assert_eq!(lines(&ok, "access-control-expose-headers").len(), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_417_refuses_with_headers_and_without_retry_after() {
    let cfg = ServerConfig::default()
        .with_variant(Variant::Refuse417)
        .with_limit(Endpoint::GetChats, 1);
    let server = reference::serve(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let (client, alice) = client_for(&server).await;
    let req = Request::to(Endpoint::GetChats).token(&alice);
    assert_eq!(client.send(&req).await.unwrap().status, 200);
    let refused = client.send(&req).await.unwrap();
    assert_eq!(refused.status, 417);
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(refused.header("retry-after").is_none());
    assert!(refused.refusal().is_some(), "the classifier sees a refusal");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_keys_are_on_every_object() {
    let server = start(&[Variant::ExtraKeys]).await;
    let (client, alice) = client_for(&server).await;
    let users = client
        .send(&Request::to(Endpoint::GetUsers).token(&alice))
        .await
        .unwrap();
    let v = users.json().unwrap();
    let list = v["message"].as_array().unwrap();
    assert!(list.iter().any(|u| u["name"] == "Administrator"));
    assert!(list
        .iter()
        .all(|u| u["last_password_reset_date"].is_string()));
    let err = client
        .send(
            &Request::to(Endpoint::GetMessages)
                .token(&alice)
                .param("chat", "nope"),
        )
        .await
        .unwrap();
    assert_eq!(err.status, 404);
    let e = err.json().unwrap();
    assert!(e["exc"].is_string() && e["_debug_messages"].is_string());
    assert_eq!(e["exc_type"], "DoesNotExistError");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_is_on_every_answer() {
    let server = start(&[Variant::ConnectionClose]).await;
    let (client, alice) = client_for(&server).await;
    for req in [
        Request::to(Endpoint::GetChats).token(&alice),
        Request::to(Endpoint::GetChats),
        Request::to(Endpoint::GetChats).method(http::Method::OPTIONS, Encoding::Query),
    ] {
        let ex = client.send(&req).await.unwrap();
        assert_eq!(ex.header("connection"), Some("close"), "{}", ex.status);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_zone_stamps_are_naive_offset_and_short() {
    let server = start(&[Variant::LocalZone]).await;
    let (client, alice) = client_for(&server).await;
    let chat = client
        .create_chat(&alice, "tz", &["bob@example.com"], "Direct")
        .await
        .unwrap()
        .value;
    // The first stamp of a second has no fraction; the clock ticks in whole
    // seconds, so waiting into the next second gives one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut stamps = Vec::new();
    for i in 0..3 {
        let sent = client
            .send(
                &Request::to(Endpoint::SendMessage)
                    .token(&alice)
                    .param("chat", &chat)
                    .param("content", format!("m{i}")),
            )
            .await
            .unwrap();
        let v = sent.json().unwrap();
        stamps.push(v["message"]["creation"].as_str().unwrap().to_owned());
    }
    assert!(
        !stamps[0].contains('.'),
        "first of its second, no fraction: {stamps:?}"
    );
    let parsed: Vec<Timestamp> = stamps
        .iter()
        .map(|s| Timestamp::parse(s).unwrap())
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    // Naive local time of UTC+05:30: about 5.5 h ahead of UTC.
    let ahead = parsed[0].value() - chrono::Utc::now().naive_utc();
    assert!(
        (ahead.num_minutes() - 330).abs() <= 2,
        "{ahead:?} ahead of UTC"
    );
    // The short form is accepted back as `after`.
    let after = client
        .send(
            &Request::to(Endpoint::GetMessages)
                .token(&alice)
                .param("chat", &chat)
                .param("after", &stamps[0]),
        )
        .await
        .unwrap();
    let v = after.json().unwrap();
    assert_eq!(v["message"].as_array().unwrap().len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_and_latency_hold_requests() {
    let cfg = ServerConfig::default()
        .with_variant(Variant::Serial)
        .with_latency(Duration::from_millis(100));
    let server = reference::serve(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let (client, alice) = client_for(&server).await;
    let req = Request::to(Endpoint::GetChats).token(&alice);
    // Four at once against one at a time: the last answer waited for the
    // three before it, so it took at least four latencies (a lower bound
    // only: a busy machine makes it longer, never shorter).
    let t0 = std::time::Instant::now();
    let answers = futures::future::join_all((0..4).map(|_| client.send(&req))).await;
    assert!(answers.iter().all(|a| a.as_ref().unwrap().status == 200));
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    server.shutdown().await;
}
