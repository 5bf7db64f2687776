//! SIGINT and SIGTERM sent from a test to the spawned binary during `load`,
//! `limits` and `capacity`: the command stops within a deadline, and the
//! report it leaves is complete, parses back into its model and is marked
//! interrupted. Each run uses the embedded reference server (loopback).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{write_inputs, DEADLINE};
use chat_harness::capacity::report::CapacityReport;
use chat_harness::limits::report::LimitsReport;
use chat_harness::load::summary::Summary;

/// Starts the binary, waits for a stderr line containing `ready`, lets it
/// work for a moment, sends `signal`, and returns the exit code and stderr.
async fn interrupt(args: &[String], ready: &str, signal: &str) -> (i32, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-harness"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stderr = String::new();
    let wait_ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            stderr.push_str(&line);
            stderr.push('\n');
            if line.contains(ready) {
                return;
            }
        }
        panic!("ended before saying {ready:?}:\n{stderr}");
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
        while let Some(line) = lines.next_line().await.unwrap() {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(DEADLINE, rest)
        .await
        .unwrap_or_else(|_| panic!("still running {DEADLINE:?} after SIG{signal}"));
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A signal death has no code: the handler must have turned it into an exit.
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by SIG{signal} instead of stopping:\n{stderr}"));
    (code, stderr)
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
    assert_eq!(code, 0, "no SLO given, none broken:\n{stderr}");
    let s: Summary =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
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
    let r: LimitsReport =
        serde_json::from_slice(&std::fs::read(out.join("limits.json")).unwrap()).unwrap();
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
    let r: CapacityReport =
        serde_json::from_slice(&std::fs::read(out.join("capacity.json")).unwrap()).unwrap();
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
    let s: Summary = serde_json::from_slice(&std::fs::read(step).unwrap()).unwrap();
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
