//! SIGINT and SIGTERM sent from a test to the spawned binary during `check`,
//! `load`, `limits` and `capacity`: the command stops within a deadline and
//! exits 1, and the report it leaves is complete, valid against its schema,
//! parses back into its model and is marked interrupted. Each run uses the
//! embedded reference server (loopback).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{write_inputs, DEADLINE};
use crate::schema::assert_file_valid;
use chat_harness::capacity::report::CapacityReport;
use chat_harness::limits::report::LimitsReport;
use chat_harness::load::summary::LoadSummary;

/// Starts the binary, waits for an output line (stdout or stderr) containing
/// `ready`, lets it work for a moment, sends `signal`, and returns the exit
/// code and the whole output.
async fn interrupt(args: &[String], ready: &str, signal: &str) -> (i32, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-harness"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let out = BufReader::new(child.stdout.take().unwrap()).lines();
    let err = BufReader::new(child.stderr.take().unwrap()).lines();
    for mut lines in [Box::new(out) as Box<dyn LineSource>, Box::new(err)] {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(line) = lines.next().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut output = String::new();
    let wait_ready = async {
        while let Some(line) = rx.recv().await {
            output.push_str(&line);
            output.push('\n');
            if line.contains(ready) {
                return;
            }
        }
        panic!("ended before saying {ready:?}:\n{output}");
    };
    tokio::time::timeout(DEADLINE, wait_ready)
        .await
        .unwrap_or_else(|_| panic!("never said {ready:?}"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
    let rest = async {
        while let Some(line) = rx.recv().await {
            output.push_str(&line);
            output.push('\n');
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(DEADLINE, rest)
        .await
        .unwrap_or_else(|_| panic!("still running {DEADLINE:?} after SIG{signal}"));
    assert!(!output.contains("panicked"), "{output}");
    // A signal death has no code: the handler must have turned it into an exit.
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by SIG{signal} instead of stopping:\n{output}"));
    (code, output)
}

/// Lines of stdout or stderr, boxed alike.
trait LineSource: Send {
    fn next(&mut self) -> futures::future::BoxFuture<'_, Option<String>>;
}

impl<R: tokio::io::AsyncBufRead + Unpin + Send> LineSource for tokio::io::Lines<R> {
    fn next(&mut self) -> futures::future::BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.next_line().await.ok().flatten() })
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const LONG_SCENARIO: &str = r#"
name = "long"
users = 4
duration = "60s"
grace = "1s"
seed = 7

[ramp]
users_per_second = 100

[topology]
cell_size = 4
direct_per_cell = 1
groups_per_cell = 1

[[persona]]
kind = "chatter"
weight = 2
model = "design"
send_every = "300ms"

[[persona]]
kind = "poller-mobile"
weight = 2
"#;

async fn load_is_interrupted(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("long.toml");
    std::fs::write(&scenario, LONG_SCENARIO).unwrap();
    let out = dir.path().join("run");
    let mut args = strings(&["load", "--scenario"]);
    args.push(scenario.display().to_string());
    args.push("--report-dir".into());
    args.push(out.display().to_string());
    let (code, stderr) = interrupt(&args, "set up in", signal).await;
    assert_eq!(code, 1, "interrupted, although no SLO was given:\n{stderr}");
    let json = assert_file_valid(
        chat_harness::load::summary::SCHEMA,
        &out.join("summary.json"),
    );
    let s: LoadSummary = serde_json::from_value(json).unwrap();
    assert!(!s.partial, "the final summary, not a progress one");
    let why = s.stopped_early.as_deref().unwrap_or_default();
    assert!(why.contains("interrupted"), "stopped_early = {why:?}");
    assert!(s.elapsed_s < 30.0, "stopped early: {} s", s.elapsed_s);
    let d = &s.delivery.counts;
    assert!(d.sent > 0, "what was measured is kept: {d:?}");
    assert!(
        d.delivered + d.lost_client_model + d.unconfirmed + d.lost <= d.expected,
        "{d:?}"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("interrupted"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_stops_on_sigterm_and_keeps_its_report() {
    load_is_interrupted("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_stops_on_sigint_and_keeps_its_report() {
    load_is_interrupted("INT").await;
}

async fn limits_is_interrupted(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("limits");
    let mut args = strings(&[
        "limits",
        "--window-seconds",
        "20",
        "--only",
        "get_messages",
        "--only",
        "get_chats",
        "--report",
    ]);
    args.push(out.display().to_string());
    let (code, stderr) = interrupt(&args, "limits: measuring", signal).await;
    assert_eq!(code, 1, "{stderr}");
    let json = assert_file_valid(
        chat_harness::limits::report::SCHEMA,
        &out.join("limits.json"),
    );
    let r: LimitsReport = serde_json::from_value(json).unwrap();
    assert!(r.interrupted && !r.holds, "{r:?}");
    assert!(r.duration_seconds < 20.0);
    let md = std::fs::read_to_string(out.join("limits.md")).unwrap();
    assert!(md.contains("nterrupted"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stops_on_sigterm_and_keeps_its_report() {
    limits_is_interrupted("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stops_on_sigint_and_keeps_its_report() {
    limits_is_interrupted("INT").await;
}

async fn capacity_is_interrupted(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, _) = write_inputs(dir.path());
    let out = dir.path().join("capacity");
    let mut args = strings(&[
        "capacity",
        "--scenario",
        &scenario,
        "--slo",
        "errors<50%",
        "--steps",
        "4,8",
        "--ramp",
        "1s",
        "--hold",
        "30s",
        "--report",
    ]);
    args.push(out.display().to_string());
    let (code, stderr) = interrupt(&args, "set up in", signal).await;
    assert_eq!(code, 1, "{stderr}");
    let json = assert_file_valid(
        chat_harness::capacity::report::SCHEMA,
        &out.join("capacity.json"),
    );
    let r: CapacityReport = serde_json::from_value(json).unwrap();
    assert!(r.interrupted, "{}", r.stopped_because);
    assert!(
        r.stopped_because.contains("interrupted"),
        "{}",
        r.stopped_because
    );
    assert_eq!(
        r.steps.len(),
        1,
        "the interrupted step is kept, no other starts"
    );
    let step = out.join("step-000004").join("summary.json");
    let step = assert_file_valid(chat_harness::load::summary::SCHEMA, &step);
    let s: LoadSummary = serde_json::from_value(step).unwrap();
    assert!(s.stopped_early.is_some_and(|w| w.contains("interrupted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_stops_on_sigterm_and_keeps_its_report() {
    capacity_is_interrupted("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_stops_on_sigint_and_keeps_its_report() {
    capacity_is_interrupted("INT").await;
}

async fn check_is_interrupted(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("check");
    // A 20 s window: the rate-limit checks take long enough to be interrupted.
    let mut args = strings(&["check", "--window-seconds", "20", "--report"]);
    args.push(out.display().to_string());
    let (code, output) = interrupt(&args, "== auth", signal).await;
    assert_eq!(code, 1, "{output}");
    let json = assert_file_valid(chat_harness::report::json::SCHEMA, &out.join("report.json"));
    assert_eq!(json["status"], "interrupted", "{output}");
    let checks = json["checks"].as_array().unwrap();
    let cut = checks
        .iter()
        .find(|c| {
            c["message"]
                .as_str()
                .is_some_and(|m| m.contains("interrupted"))
        })
        .unwrap_or_else(|| panic!("no check records the interruption:\n{output}"));
    assert_eq!(cut["outcome"], "error", "{cut}");
    let selected = json["options"]["selected"].as_u64().unwrap() as usize;
    assert_eq!(
        checks.len(),
        selected,
        "every selected check is in the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_stops_on_sigterm_and_keeps_its_report() {
    check_is_interrupted("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_stops_on_sigint_and_keeps_its_report() {
    check_is_interrupted("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shuts_down_on_sigterm() {
    let args = strings(&["serve", "--port", "0"]);
    let (code, output) = interrupt(&args, "listening on", "TERM").await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("shutting down"), "{output}");
}
