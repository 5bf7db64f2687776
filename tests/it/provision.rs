//! `provision` and `load --accounts` as processes against the reference
//! server on loopback: signup is limited to a few per 2 s window so that
//! the limit is met within seconds; a provisioned file is private, its
//! tokens work, it resumes, and `load` runs on it. A server that rotates
//! secrets at login (the `rotate-on-login` defect) makes `load` stop with
//! exit 3 and say that tokens stopped working, its report still written.
//! Every process is bounded in time and killed if it overruns.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use chat_harness::accounts::{self, Account};
use chat_harness::client::{Client, ClientConfig};
use chat_harness::contract::Endpoint;
use chat_harness::load::summary::LoadSummary;
use chat_harness::reference::{serve, Defect, RunningServer, ServerConfig};

const BIN: &str = env!("CARGO_BIN_EXE_chat-harness");
const PASSWORD: &str = "Pr0vision!test";

/// A server with no seeded users and `per_window` signups per 2 s window.
async fn server(per_window: u32) -> RunningServer {
    let cfg = ServerConfig::default()
        .with_users(Vec::new())
        .with_window(2)
        .with_limit(Endpoint::Signup, per_window);
    serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Runs the binary to its end (killed past `limit`).
async fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], limit: Duration) -> Output {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .env("CHAT_HARNESS_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{args:?} overran {limit:?}"))
        .unwrap()
}

async fn provision(url: &str, count: usize, out: &Path) -> Output {
    provision_waiting(url, count, out, "10s").await
}

async fn provision_waiting(url: &str, count: usize, out: &Path, max_wait: &str) -> Output {
    let count = count.to_string();
    let out = out.to_str().unwrap();
    run(
        &[
            "--target",
            url,
            "provision",
            "--count",
            &count,
            "--out",
            out,
            "--max-wait",
            max_wait,
        ],
        Duration::from_secs(60),
    )
    .await
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url)).unwrap()
}

fn tokens(accounts: &[Account]) -> Vec<(String, String)> {
    accounts
        .iter()
        .map(|a| (a.api_key.clone().unwrap(), a.api_secret.clone().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_waits_for_the_signup_window_and_writes_private_working_tokens() {
    let server = server(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    // Someone else on this address spends the window's signups first: the
    // first attempt is refused (429, Retry-After) and waited out.
    let c = client(&server.url());
    for i in 0..3 {
        c.signup(&format!("other-{i}@example.com"), PASSWORD, "Other")
            .await
            .unwrap();
    }
    let started = Instant::now();
    let out = provision(&server.url(), 7, &file).await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // 3 signups per 2 s: the 7th waits for the fourth window.
    assert!(took >= Duration::from_secs(4), "{took:?}: {}", text(&out));
    // Every wait is said, with the estimate once an account is made, and
    // the pace at the end.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0/7 accounts, waiting ")
            && stderr.contains(" for signup quota: no estimate before the first account"),
        "{}",
        text(&out)
    );
    assert!(
        stderr.contains("/7 accounts, waiting ") && stderr.contains(" per min so far): about "),
        "{}",
        text(&out)
    );
    assert!(stderr.contains(" 7 made in "), "{}", text(&out));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let accounts = accounts::load(&file).unwrap();
    assert_eq!(accounts.len(), 7);
    let emails: Vec<&str> = accounts.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(emails[0], "lh-user-000000@example.com");
    assert_eq!(emails[6], "lh-user-000006@example.com");
    assert_eq!(
        server.core().accounts().len(),
        3 + 7,
        "one signup per account"
    );

    for a in &accounts {
        let creds = a.credentials().expect("a token pair");
        c.get_chats(&creds)
            .await
            .unwrap_or_else(|e| panic!("{}'s token: {e}", a.email));
    }
    // Secrets and the password appear in the file only.
    let printed = text(&out);
    for (key, secret) in tokens(&accounts) {
        assert!(
            !printed.contains(&secret),
            "a secret was printed: {printed}"
        );
        assert!(!printed.contains(&key), "a key was printed: {printed}");
    }
    assert!(!printed.contains(PASSWORD), "the password was printed");
    server.shutdown().await;
}

/// `-q`: the accounts are made and nothing is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_under_quiet_prints_nothing() {
    let server = server(2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let out = run(
        &[
            "-q",
            "--target",
            &server.url(),
            "provision",
            "--count",
            "3",
            "--out",
            file.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    assert_eq!(accounts::load(&file).unwrap().len(), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_resumes_and_signs_up_only_the_missing_users() {
    let server = server(5).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let out = provision(&server.url(), 3, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = accounts::load(&file).unwrap();
    assert_eq!(first.len(), 3);

    // As if the last save had been lost: the third user exists on the
    // server but not in the file. The next run logs it in instead.
    accounts::save(&file, &first[..2]).unwrap();
    let out = provision(&server.url(), 5, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resuming: 2 accounts"),
        "{}",
        text(&out)
    );
    let second = accounts::load(&file).unwrap();
    assert_eq!(second.len(), 5);
    assert_eq!(second[..2], first[..2], "kept as they were");
    assert_eq!(second[2].email, first[2].email);
    // Five users on the server: nobody was signed up twice.
    let mut on_server: Vec<String> = server
        .core()
        .accounts()
        .into_iter()
        .map(|a| a.email)
        .collect();
    on_server.sort();
    let in_file: Vec<String> = second.iter().map(|a| a.email.clone()).collect();
    assert_eq!(on_server, in_file);

    // Complete already: nothing to do, no request made.
    let out = provision(&server.url(), 5, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(accounts::load(&file).unwrap(), second);
    let c = client(&server.url());
    for a in &second {
        c.get_chats(&a.credentials().unwrap()).await.unwrap();
    }

    // A gap: the first account lost from the file, the others kept. The gap
    // is filled by logging that user in; no account is listed twice and
    // nobody new is signed up.
    accounts::save(&file, &second[1..]).unwrap();
    let out = provision(&server.url(), 5, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut third: Vec<String> = accounts::load(&file)
        .unwrap()
        .into_iter()
        .map(|a| a.email)
        .collect();
    third.sort();
    assert_eq!(third, in_file);
    assert_eq!(server.core().accounts().len(), 5);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_stops_past_max_wait_and_keeps_what_it_made() {
    // 2 signups a minute: the third would wait about a minute.
    let cfg = ServerConfig::default()
        .with_users(Vec::new())
        .with_limit(Endpoint::Signup, 2);
    let server = serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let out = provision_waiting(&server.url(), 3, &file, "1s").await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("more than --max-wait") && stderr.contains("2 accounts saved"),
        "{}",
        text(&out)
    );
    assert_eq!(accounts::load(&file).unwrap().len(), 2);
    server.shutdown().await;
}

fn smoke() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")
}

fn load_args(url: &str, file: &Path, report: &Path) -> Vec<String> {
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    vec![
        "--target".into(),
        url.into(),
        "--accounts".into(),
        path(file),
        "load".into(),
        "--scenario".into(),
        path(&smoke()),
        "--report-dir".into(),
        path(report),
        "-q".into(),
    ]
}

fn summary(dir: &Path) -> LoadSummary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_on_provisioned_accounts() {
    // The smoke scenario's 12 users, 6 signups per 2 s window.
    let server = server(6).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let out = provision(&server.url(), 12, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = dir.path().join("run");
    let url = server.url();
    let out = run(&load_args(&url, &file, &report), Duration::from_secs(90)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&report);
    assert!(s.stopped_early.is_none(), "{:?}", s.stopped_early);
    assert_eq!(s.target, url);
    let d = &s.delivery.counts;
    assert!(d.sent > 0 && d.delivered > 0, "{d:?}");
    assert_eq!(d.lost, 0, "{d:?}");
    assert_eq!(s.requests.refused_unexpected, 0);
    // No user was signed up or logged in by the run: 12 accounts, same tokens.
    assert_eq!(server.core().accounts().len(), 12);
    let printed = text(&out);
    for (_, secret) in tokens(&accounts::load(&file).unwrap()) {
        assert!(!printed.contains(&secret), "a secret was printed");
    }
    server.shutdown().await;
}

/// When the logins elsewhere happen: during the run, or between the
/// provisioning and the run.
#[derive(Clone, Copy, PartialEq)]
enum When {
    During,
    Before,
}

/// Runs the smoke scenario on a server that rotates secrets at login
/// (AUTH-6), logging the given users (indices into the run's accounts) in
/// elsewhere, and returns the process's output and its summary, if any.
async fn rotated_run(users: &[usize], when: When) -> (Output, Option<LoadSummary>) {
    let cfg = ServerConfig::default()
        .with_users(Vec::new())
        .with_generated_users(12)
        .with_defect(Defect::RotateOnLogin);
    let server = serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut accounts = server.core().accounts();
    accounts.sort_by(|a, b| a.email.cmp(&b.email));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    accounts::save(&file, &accounts).unwrap();
    let report = dir.path().join("run");
    let url = server.url();
    let c = client(&url);
    let login_elsewhere = || async {
        for &i in users {
            let a = &accounts[i];
            c.login(&a.email, a.password.as_deref().unwrap())
                .await
                .unwrap();
        }
    };
    if when == When::Before {
        login_elsewhere().await;
    }
    let args = load_args(&url, &file, &report);
    let load = tokio::spawn(async move { run(&args, Duration::from_secs(90)).await });
    if when == When::During {
        // Once the run's users have made their first requests.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        login_elsewhere().await;
    }
    let out = load.await.unwrap();
    let s = report
        .join("summary.json")
        .exists()
        .then(|| summary(&report));
    server.shutdown().await;
    (out, s)
}

fn assert_stopped_for_tokens(out: &Output, s: Option<LoadSummary>) {
    let s = s.expect("the report is written");
    assert_eq!(out.status.code(), Some(3), "{}", text(out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tokens stopped working"),
        "{}",
        text(out)
    );
    let reason = s
        .stopped_early
        .as_deref()
        .expect("the report says why it stopped");
    assert!(reason.contains("tokens stopped working"), "{reason}");
    assert!(reason.contains("401"), "{reason}");
    assert!(!s.partial);
    // The run stopped early, not at its end (3 s + 2 s of grace).
    assert!(s.elapsed_s < 5.0, "{}", s.elapsed_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_stops_with_exit_3_when_tokens_stop_working() {
    let (out, s) = rotated_run(&[0, 1, 2, 3, 4, 5], When::During).await;
    assert_stopped_for_tokens(&out, s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_stops_when_a_saved_token_was_revoked_before_the_run() {
    // User 1 creates none of the smoke plan's chats (its cell's creators
    // are users 0, 3 and 2): its first request is the first to see the 401.
    let (out, s) = rotated_run(&[1], When::Before).await;
    assert_stopped_for_tokens(&out, s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_up_says_tokens_stopped_working_when_a_chat_creator_was_revoked() {
    // User 0 creates the plan's first chat: set-up meets the 401 first.
    let (out, _) = rotated_run(&[0], When::Before).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "tokens stopped working: the token of load-00000@example.com was refused with 401"
        ),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_waits_out_417_refusals_with_values_in_the_body_and_keeps_each_last_pair() {
    // A real deployment's form: refusals are 417 ValidationError with the
    // rate-limit values only in the JSON body, no Retry-After; every login
    // issues a new secret. A refused signup is not "already exists".
    let cfg = ServerConfig::default()
        .with_users(Vec::new())
        .with_window(2)
        .with_limit(Endpoint::Signup, 3)
        .with_defect(Defect::RefuseWith417)
        .with_defect(Defect::RateHeadersInBody)
        .with_defect(Defect::RotateOnLogin);
    let server = serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let c = client(&server.url());
    for i in 0..3 {
        c.signup(&format!("other-{i}@example.com"), PASSWORD, "Other")
            .await
            .unwrap();
    }
    let out = provision(&server.url(), 5, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0/5 accounts, waiting"),
        "the refusal was waited out: {}",
        text(&out)
    );
    let accounts = accounts::load(&file).unwrap();
    assert_eq!(accounts.len(), 5);
    assert_eq!(server.core().accounts().len(), 3 + 5, "one signup each");
    // Each account's saved pair is the last one the server issued.
    for a in &accounts {
        let creds = a.credentials().expect("a token pair");
        c.get_chats(&creds)
            .await
            .unwrap_or_else(|e| panic!("{}'s saved pair: {e}", a.email));
    }
    server.shutdown().await;
}

/// A real deployment's shape: every answer closes its connection, every
/// login issues a new secret, refusals are 417 with the values in the body.
/// Accounts from `provision`, then the smoke load: it completes with the
/// delivery figures of a clean run (nothing lost, no unexpected refusal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_completes_on_a_server_that_closes_every_connection_and_rotates_secrets() {
    let cfg = ServerConfig::default()
        .with_users(Vec::new())
        .with_window(2)
        .with_limit(Endpoint::Signup, 6)
        .with_variant(chat_harness::reference::Variant::ConnectionClose)
        .with_defect(Defect::RotateOnLogin)
        .with_defect(Defect::RefuseWith417)
        .with_defect(Defect::RateHeadersInBody);
    let server = serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let out = provision(&server.url(), 12, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = dir.path().join("run");
    let out = run(
        &load_args(&server.url(), &file, &report),
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&report);
    assert!(s.stopped_early.is_none(), "{:?}", s.stopped_early);
    let d = &s.delivery.counts;
    assert!(d.sent > 0 && d.delivered > 0, "{d:?}");
    assert_eq!((d.lost, d.duplicated), (0, 0), "{d:?}");
    assert_eq!(s.requests.refused_unexpected, 0);
    server.shutdown().await;
}
