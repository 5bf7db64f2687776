//! Distributed load end to end, as separate processes on loopback: one
//! `serve`, two `load --shard I/2` processes started together with
//! `--start-at`, then `merge`. The merged report must account for every
//! request and message the shards saw. Every process is bounded in time
//! and killed by the test if it overruns; the network namespace version of
//! this proof is `benches/shards.sh`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_harness::load::summary::LoadSummary;

const BIN: &str = env!("CARGO_BIN_EXE_chat-harness");

fn smoke() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")
}

/// Kills the child when dropped, so a failing assertion leaves nothing running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait(child: &mut Reaper, limit: Duration) -> i32 {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < until, "process overran {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A shard's or the merge's summary, valid against the schema.
fn read(dir: &Path) -> LoadSummary {
    let json = crate::schema::assert_file_valid(
        chat_harness::load::summary::SCHEMA,
        &dir.join("summary.json"),
    );
    serde_json::from_value(json).unwrap()
}

fn serve(dir: &Path, users: usize) -> (Reaper, String, PathBuf) {
    let port_file = dir.join("port");
    let accounts = dir.join("accounts.toml");
    let server = Reaper(
        Command::new(BIN)
            .args(["serve", "--port", "0", "--users"])
            .arg(users.to_string())
            .arg("--port-file")
            .arg(&port_file)
            .arg("--accounts-out")
            .arg(&accounts)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + Duration::from_secs(30);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            if p.ends_with('\n') {
                break p.trim().to_owned();
            }
        }
        assert!(Instant::now() < until, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    (server, format!("http://127.0.0.1:{port}"), accounts)
}

#[test]
fn two_shard_processes_merge_into_one_report_that_accounts_for_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, accounts) = serve(dir.path(), 12);
    let start_at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let shard_dir = |i: u32| dir.path().join(format!("shard-{i}"));
    let mut shards: Vec<Reaper> = (0..2)
        .map(|i| {
            Reaper(
                Command::new(BIN)
                    .args(["--target", &url, "--accounts"])
                    .arg(&accounts)
                    .args(["load", "--quiet", "--scenario"])
                    .arg(smoke())
                    .args(["--shard", &format!("{i}/2"), "--start-at", &start_at])
                    .arg("--report-dir")
                    .arg(shard_dir(i))
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for s in &mut shards {
        assert_eq!(wait(s, Duration::from_secs(90)), 0, "shard run failed");
    }

    let out = dir.path().join("merged");
    let merge = Command::new(BIN)
        .arg("merge")
        .arg(shard_dir(1))
        .arg(shard_dir(0))
        .arg("--out")
        .arg(&out)
        .args(["--slo", "lost=0"])
        .output()
        .unwrap();
    assert!(merge.status.success(), "{merge:?}");

    let parts: Vec<LoadSummary> = (0..2).map(|i| read(&shard_dir(i))).collect();
    let m = read(&out);
    let sum = |f: &dyn Fn(&LoadSummary) -> u64| parts.iter().map(f).sum::<u64>();
    assert_eq!(m.requests.total, sum(&|s| s.requests.total));
    assert_eq!(m.requests.errors, sum(&|s| s.requests.errors));
    assert_eq!(m.requests.latency.count, sum(&|s| s.requests.latency.count));
    for (name, e) in &m.requests.per_endpoint {
        let part = sum(&|s| s.requests.per_endpoint.get(name).map_or(0, |e| e.requests));
        assert_eq!(e.requests, part, "{name}");
    }
    let d = &m.delivery.counts;
    assert_eq!(d.sent, sum(&|s| s.delivery.counts.sent));
    assert_eq!(d.delivered, sum(&|s| s.delivery.counts.delivered));
    assert_eq!(d.expected, sum(&|s| s.delivery.counts.expected));
    assert_eq!(
        m.delivery.latency.count + m.delivery.catchup.count,
        d.delivered
    );
    assert_eq!(m.delivery.catchup.count, sum(&|s| s.delivery.catchup.count));
    assert!(d.sent > 0 && d.delivered > 0, "{d:?}");
    assert_eq!((d.lost, d.duplicated, d.out_of_order), (0, 0, 0), "{d:?}");
    let ticks: u64 = m.timeline.iter().map(|t| t.requests as u64).sum();
    assert_eq!(ticks, m.requests.total, "the timeline holds every request");

    // The whole scenario, split without overlap, started together.
    assert_eq!(m.users.planned, 12);
    assert_eq!(m.users.chats, 9);
    let info: Vec<_> = parts.iter().map(|s| s.shard.clone().unwrap()).collect();
    assert_eq!((info[0].first_user, info[0].users), (0, 4));
    assert_eq!((info[1].first_user, info[1].users), (4, 8));
    assert_eq!(info[0].scenario_hash, info[1].scenario_hash);
    assert!(info.iter().all(|i| i.late_ms.is_some_and(|ms| ms >= 0)));
    assert_eq!(m.merged.as_ref().unwrap().shards.len(), 2);
    assert!(m.slo[0].held);

    // goose's p99 rows: its buckets of both shards added, goose's percentile
    // of the sum (unit-tested on hand-made buckets in load/goose.rs). One
    // shard's report alone gives back that shard's own p99. (The merged p99
    // need not lie between the shards': goose ranks round(n x 0.99), so at
    // these small counts each shard's p99 is its second slowest request and
    // the merge's is the second slowest of all.)
    assert_eq!(m.merged.as_ref().unwrap().goose_p99, "exact");
    let reports: Vec<_> = (0..2).map(|i| shard_dir(i).join("report.json")).collect();
    for (i, part) in parts.iter().enumerate() {
        let alone = chat_harness::load::merged_p99_ms(&reports[i..=i]).unwrap();
        for r in &part.goose.as_ref().expect("goose rows").rows {
            assert_eq!(
                alone[&r.name], r.p99_ms,
                "shard {i}, {}: goose's own p99",
                r.name
            );
        }
    }
    let both = chat_harness::load::merged_p99_ms(&reports).unwrap();
    for r in &m.goose.as_ref().expect("merged goose rows").rows {
        assert_eq!(both[&r.name], r.p99_ms, "{}", r.name);
    }

    for f in [
        "summary.md",
        "summary.html",
        "shards/0/report.json",
        "shards/1/summary.html",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("Merged from 2 shards") && md.contains("## Shards"));

    // One shard alone is refused, with the missing number named.
    let lone = Command::new(BIN)
        .arg("merge")
        .arg(shard_dir(0))
        .arg("--out")
        .arg(dir.path().join("lone"))
        .output()
        .unwrap();
    assert_eq!(lone.status.code(), Some(2));
    let err = String::from_utf8_lossy(&lone.stderr);
    assert!(err.contains("missing shard(s) 1 of 2"), "{err}");
}

#[test]
fn shard_flags_are_checked_before_anything_runs() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["load", "--scenario"])
            .arg(smoke())
            .args(args)
            .output()
            .unwrap()
    };
    let too_many = run(&["--shard", "0/4"]);
    assert_eq!(too_many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("at most 3 shards"));
    let bad = run(&["--shard", "2/2"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("count from 0"));
    let start = run(&["--shard", "0/2", "--start-at", "noon"]);
    assert_eq!(start.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&start.stderr).contains("RFC 3339"));
    let far = run(&["--shard", "0/2", "--start-at", "2999-01-01T00:00:00Z"]);
    assert_eq!(far.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&far.stderr).contains("24 hours"));
}
