//! `load` end to end against the embedded reference server: a clean server
//! delivers every message, a server that delays visibility shows it, one
//! that drops messages shows loss (and fails a `lost=0` SLO). Runs are a
//! few seconds each, on loopback, and serialised (goose keeps global state).

use std::path::PathBuf;
use std::time::Duration;

use chat_harness::load::scenario::Scenario;
use chat_harness::load::slo::Slo;
use chat_harness::load::summary::LoadSummary;
use chat_harness::load::{run, LoadConfig, LoadOutcome};
use chat_harness::reference::Defect;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn smoke() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    Scenario::load(&path).unwrap()
}

async fn run_smoke(defects: Vec<Defect>, slos: &[&str]) -> (LoadOutcome, tempfile::TempDir) {
    run_scenario(smoke(), defects, slos).await
}

async fn run_scenario(
    scenario: Scenario,
    defects: Vec<Defect>,
    slos: &[&str],
) -> (LoadOutcome, tempfile::TempDir) {
    let _guard = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = LoadConfig {
        scenario,
        target: None,
        accounts: Vec::new(),
        timeout: Duration::from_secs(5),
        report_root: dir.path().to_owned(),
        report_dir: Some(dir.path().join("run")),
        slos: slos.iter().map(|s| Slo::parse(s).unwrap()).collect(),
        progress: false,
        defects,
        unlimited: false,
    };
    // The scenario bounds the run (seconds); this bounds the test if it hangs.
    let out = tokio::time::timeout(Duration::from_secs(60), run(cfg))
        .await
        .expect("the smoke run ends by itself")
        .unwrap();
    crate::schema::assert_file_valid(
        chat_harness::load::summary::SCHEMA,
        &out.report_dir.join("summary.json"),
    );
    (out, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_delivers_every_message_and_writes_its_reports() {
    let (out, _dir) = run_smoke(Vec::new(), &["lost=0", "errors<1%"]).await;
    let s = &out.summary;
    let d = &s.delivery.counts;
    assert!(d.sent > 0 && d.delivered > 0, "{d:?}");
    assert_eq!(
        (
            d.lost,
            d.duplicated,
            d.out_of_order,
            d.late_visible,
            d.seen_unsent
        ),
        (0, 0, 0, 0, 0),
        "{d:?}"
    );
    assert_eq!(
        d.delivered + d.lost_client_model + d.unconfirmed,
        d.expected,
        "{d:?}"
    );
    // Each delivered pair is timed once: as delivery (screen open at the
    // send's answer) or as catch-up (opened later).
    assert_eq!(
        s.delivery.latency.count + s.delivery.catchup.count,
        d.delivered
    );
    assert!(s.delivery.latency.count > 0, "{:?}", s.delivery.latency);
    assert!(s.stopped_early.is_none(), "{:?}", s.stopped_early);
    // The prober's burst of 110 get_chats passes the limit of 100.
    let chats = &s.requests.per_endpoint["get_chats"];
    assert!(chats.refused_expected >= 10, "{chats:?}");
    assert_eq!(s.requests.refused_unexpected, 0);
    assert_eq!(out.exit_code, 0, "{:?}", s.slo);
    for f in ["summary.json", "summary.md", "summary.html", "report.json"] {
        assert!(out.report_dir.join(f).exists(), "{f} missing");
    }
    // goose's report.html would load its charts from a CDN: not written.
    assert!(!out.report_dir.join("report.html").exists());
    let back: LoadSummary =
        serde_json::from_slice(&std::fs::read(out.report_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(back.schema_version, 1);
    assert_eq!(back.delivery.counts, *d);
    assert!(!back.partial);
    let html = std::fs::read_to_string(out.report_dir.join("summary.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script src"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_visibility_shows_as_late_delivery_not_loss() {
    let (out, _dir) = run_smoke(vec![Defect::DelayedVisibility], &["late_visible=0"]).await;
    let d = &out.summary.delivery.counts;
    assert!(d.late_visible > 0, "{d:?}");
    assert_eq!(d.lost, 0, "{d:?}");
    assert_eq!(out.exit_code, 1, "the late_visible=0 SLO fails");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_messages_show_as_loss_and_fail_the_slo() {
    let (out, _dir) = run_smoke(vec![Defect::DropMessages], &["lost=0"]).await;
    let d = &out.summary.delivery.counts;
    assert!(d.lost > 0, "{d:?}");
    assert_eq!(out.exit_code, 1);
    assert!(!out.summary.slo[0].held);
}

/// Eight users of an `iterations` scenario: 4 chatters, 4 design pollers,
/// 5 iterations each, a 30 s cap it never nears.
const ITERATIONS: &str = r#"
name = "iterations"
users = 8
iterations = 5
duration = "30s"
grace = "1500ms"
seed = 3
[ramp]
users_per_second = 100
[topology]
cell_size = 4
direct_per_cell = 2
groups_per_cell = 1
[[persona]]
kind = "chatter"
send_every = "150ms"
[[persona]]
kind = "poller-design"
active_interval = "200ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_run_sends_exactly_users_times_n_and_ends_before_its_cap() {
    let scenario = Scenario::parse(ITERATIONS, "iterations.toml").unwrap();
    let started = std::time::Instant::now();
    let (out, _dir) = run_scenario(scenario, Vec::new(), &["lost=0", "errors=0"]).await;
    let s = &out.summary;
    let d = &s.delivery.counts;
    assert_eq!(s.users.personas["chatter"], 4);
    assert_eq!(d.sent, 4 * 5, "every chatter sends exactly 5: {d:?}");
    assert_eq!(s.requests.per_endpoint["send_message"].requests, 20);
    assert_eq!(
        (
            d.lost,
            d.unconfirmed,
            d.duplicated,
            d.out_of_order,
            d.seen_unsent
        ),
        (0, 0, 0, 0, 0),
        "{d:?}"
    );
    assert_eq!(d.delivered + d.lost_client_model, d.expected, "{d:?}");
    let it = s.users.iterations.as_ref().expect("an iterations summary");
    assert_eq!((it.per_user, it.finished, it.unfinished), (5, 8, 0));
    assert!(s.stopped_early.is_none(), "{:?}", s.stopped_early);
    assert!(!s.goose.as_ref().unwrap().interrupted);
    assert_eq!(out.exit_code, 0, "{:?}", s.slo);
    // Pollers need 5 x 200 ms, chatters about 5 x 150 ms; then 1.5 s of grace.
    assert!(
        s.elapsed_s < 10.0,
        "ended at {} s, not when done",
        s.elapsed_s
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    let md = std::fs::read_to_string(out.report_dir.join("summary.md")).unwrap();
    assert!(
        md.contains("Iterations: 5 per user; 8 users finished them."),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_cut_short_by_the_cap_are_reported() {
    // 10,000 polls at 200 ms cannot end within the 2 s cap.
    let text = ITERATIONS
        .replace("iterations = 5", "iterations = 10000")
        .replace("duration = \"30s\"", "duration = \"2s\"")
        .replace("grace = \"1500ms\"", "grace = \"500ms\"");
    let scenario = Scenario::parse(&text, "iterations.toml").unwrap();
    let (out, _dir) = run_scenario(scenario, Vec::new(), &[]).await;
    let s = &out.summary;
    let it = s.users.iterations.as_ref().expect("an iterations summary");
    assert_eq!((it.per_user, it.finished, it.unfinished), (10_000, 0, 8));
    assert!(s.elapsed_s < 5.0, "{}", s.elapsed_s);
    assert_eq!(s.delivery.counts.lost, 0, "{:?}", s.delivery.counts);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.report_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["users"]["iterations"]["unfinished"], 8);
    let md = std::fs::read_to_string(out.report_dir.join("summary.md")).unwrap();
    assert!(md.contains("8 did not"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_as_417_are_refused_not_failed_in_our_summary_and_in_goose() {
    let (out, _dir) = run_smoke(vec![Defect::RefuseWith417], &["errors<1%"]).await;
    let s = &out.summary;
    // The prober's burst of 110 get_chats passes the limit of 100: refused
    // with 417 and no Retry-After, counted as refusals all the same.
    let chats = &s.requests.per_endpoint["get_chats"];
    assert!(chats.refused_expected >= 10, "{chats:?}");
    assert_eq!(chats.failed, 0, "{chats:?}");
    assert_eq!(s.requests.errors, 0, "{:?}", s.requests);
    assert_eq!(s.requests.refused_unexpected, 0);
    // goose's own rows count no refusal as a failure either.
    let goose = s.goose.as_ref().expect("goose's rows");
    let fails: u64 = goose.rows.iter().map(|r| r.fail).sum();
    assert_eq!(fails, 0, "{:?}", goose.rows);
    assert_eq!(out.exit_code, 0, "{:?}", s.slo);
    assert_eq!(s.delivery.counts.lost, 0, "{:?}", s.delivery.counts);
}
