//! `capacity` against the embedded server on a tiny scale: the steps run,
//! reports are written, and the knee is where an SLO breaks.

use std::path::Path;
use std::time::Duration;

use chat_harness::capacity::{report::CapacityReport, run, CapacityConfig};
use chat_harness::load::scenario::Scenario;
use chat_harness::load::slo::Slo;

fn config(dir: &Path, slos: &[&str]) -> CapacityConfig {
    let scenario = Scenario::load(Path::new("scenarios/smoke.toml")).unwrap();
    CapacityConfig {
        scenario,
        slos: slos.iter().map(|s| Slo::parse(s).unwrap()).collect(),
        steps: vec![4, 8],
        ramp: Duration::from_secs(1),
        hold: Duration::from_secs(2),
        budget: Duration::from_secs(120),
        target: None,
        accounts: Vec::new(),
        timeout: Duration::from_secs(5),
        report_dir: dir.to_owned(),
        progress: false,
        unlimited: false,
    }
}

/// The report, valid against the schema, and each step's summary too.
fn read(dir: &Path) -> CapacityReport {
    let json = crate::schema::assert_file_valid(
        chat_harness::capacity::report::SCHEMA,
        &dir.join("capacity.json"),
    );
    let r: CapacityReport = serde_json::from_value(json).unwrap();
    for s in &r.steps {
        crate::schema::assert_file_valid(
            chat_harness::load::summary::SCHEMA,
            &Path::new(&s.report_dir).join("summary.json"),
        );
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_holds_under_a_lenient_slo() {
    let dir = tempfile::tempdir().unwrap();
    let code = run(config(dir.path(), &["lost=0", "errors<100%"]))
        .await
        .unwrap();
    assert_eq!(code, 0);
    let r = read(dir.path());
    assert_eq!(
        r.steps.iter().map(|s| s.users).collect::<Vec<_>>(),
        vec![4, 8]
    );
    assert!(r
        .steps
        .iter()
        .all(|s| s.held && s.requests > 0 && s.delivered > 0));
    assert_eq!(r.knee.as_ref().unwrap().users, 8);
    assert!(r.first_break.is_none());
    assert!(r.model.requests_per_user > 0.0);
    for f in [
        "capacity.md",
        "capacity.svg",
        "step-000004/summary.json",
        "step-000008/summary.json",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let svg = std::fs::read_to_string(dir.path().join("capacity.svg")).unwrap();
    // Every step held: the knee is above the largest step, so none is drawn.
    assert!(svg.starts_with("<svg") && svg.contains("users against delivery p99"));
    assert!(!svg.contains("knee"), "a knee drawn where none was found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_slo_set_low_enough_breaks_and_stops_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    // No delivery is that fast: the first step breaks, the second never runs.
    let code = run(config(dir.path(), &["delivery.p50<1us"]))
        .await
        .unwrap();
    assert_eq!(code, 1);
    let r = read(dir.path());
    assert_eq!(r.steps.len(), 1);
    assert!(r.knee.is_none());
    let b = r.first_break.as_ref().unwrap();
    assert_eq!(b.users, 4);
    assert!(b.slo.starts_with("delivery.p50<1"), "{}", b.slo);
    let md = std::fs::read_to_string(dir.path().join("capacity.md")).unwrap();
    assert!(
        md.contains("no step held: delivery.p50<1") && md.contains("broke already at 4 users"),
        "{md}"
    );
}
