//! The conformance suite proven by failing: it passes on the clean reference
//! server (both Reset forms, slow checks at a short window), and each
//! deliberate defect of the reference server makes the check of its clause
//! fail. Every check must be killed by at least one defect; the check ×
//! defect matrix is printed (run with `--nocapture` to see it).

use std::collections::{BTreeMap, BTreeSet};

use chat_harness::check::runner::{execute, RunOutput};
use chat_harness::check::{catalogue, CheckConfig, EmbeddedOptions, Selection, Target};
use chat_harness::reference::{Defect, ResetStyle};
use chat_harness::report::model::{Outcome, RunStatus};
use futures::StreamExt;

/// Window for the slow checks in tests: short, but long enough that a busy
/// machine can still judge it.
const SHORT_WINDOW: u64 = 2;

fn config(defects: &[Defect], only: &[&str], skip: &[&str], window: u64) -> CheckConfig {
    let mut c = CheckConfig::embedded();
    c.target = Target::Embedded(EmbeddedOptions {
        reset_form: ResetStyle::Delta,
        defects: defects.to_vec(),
    });
    c.selection = Selection {
        only: only.iter().map(|s| s.to_string()).collect(),
        skip: skip.iter().map(|s| s.to_string()).collect(),
        tags: Vec::new(),
    };
    c.window_seconds = window;
    c.limits.window_seconds = window;
    c
}

async fn run(c: CheckConfig) -> RunOutput {
    let mut sink = Vec::new();
    let out = execute(c, &mut sink)
        .await
        .expect("the run starts")
        .expect("not a listing");
    if out.exit_code != 0 && std::env::var_os("CHECK_VERBOSE").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&sink));
    }
    out
}

fn assert_clean(out: &RunOutput, what: &str) {
    let bad: Vec<String> = out
        .report
        .checks
        .iter()
        .filter(|c| !matches!(c.outcome, Outcome::Pass | Outcome::Info))
        .map(|c| {
            format!(
                "{} {}: {} / {:?} / {:?} / {:?}",
                c.id,
                c.outcome.as_str(),
                c.message,
                c.expected,
                c.seen,
                c.notes
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: not all checks passed on the clean reference:\n{}",
        bad.join("\n")
    );
    assert_eq!(out.exit_code, 0, "{what}");
    assert_eq!(out.report.status, RunStatus::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_reference_passes_with_delta_and_epoch_reset() {
    let out = run(config(&[], &[], &["slow"], 60)).await;
    assert_clean(&out, "delta");
    assert_eq!(
        out.report.checks.len(),
        catalogue().iter().filter(|c| !c.has_tag("slow")).count()
    );
    let mut c = config(&[], &[], &["slow"], 60);
    c.target = Target::Embedded(EmbeddedOptions {
        reset_form: ResetStyle::Epoch,
        defects: vec![],
    });
    let out = run(c).await;
    assert_clean(&out, "epoch");
    let form = out
        .report
        .checks
        .iter()
        .find(|c| c.id == "RL-5b.1")
        .expect("RL-5b.1 ran");
    assert!(form.message.contains("epoch"), "{}", form.message);
}

/// True when a timing check gave up because the machine was too slow to
/// judge a window (an honest `error`, not a verdict): worth one more run.
fn too_slow(out: &RunOutput) -> bool {
    out.report
        .checks
        .iter()
        .any(|c| c.outcome == Outcome::Error && c.message.contains("too slow to judge"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_reference_passes_the_slow_checks_at_a_short_window() {
    let mut out = run(config(&[], &["slow"], &[], SHORT_WINDOW)).await;
    if too_slow(&out) {
        out = run(config(&[], &["slow"], &[], SHORT_WINDOW)).await;
    }
    assert_clean(&out, "slow");
    assert!(
        out.report.summary.waited_ms > 0,
        "slow checks report their waiting"
    );
}

/// The checks each defect made fail, run by run.
async fn defect_matrix() -> BTreeMap<Defect, (BTreeSet<String>, bool)> {
    let runs = Defect::ALL.iter().map(|&d| async move {
        // Window defects need the slow checks at a short window; the others
        // run the fast suite at the contract's window.
        let out = if d.clause() == "RL-6" {
            let out = run(config(&[d], &["RL-6"], &[], SHORT_WINDOW)).await;
            if too_slow(&out) {
                // A busy machine could not judge the window: once more.
                run(config(&[d], &["RL-6"], &[], SHORT_WINDOW)).await
            } else {
                out
            }
        } else if d.clause().starts_with("RL-") {
            // A broken limiter also refuses the other areas' traffic, and
            // their retries would wait out whole windows: the RL area only.
            let mut out = run(config(&[d], &["RL"], &["slow"], 60)).await;
            if d.clause() == "RL-3" {
                // RL-3.2 (login and signup) is slow: it may wait for the
                // address's buckets, a short window then.
                let more = run(config(&[d], &["RL-3.2"], &[], SHORT_WINDOW)).await;
                out.report.checks.extend(more.report.checks);
                out.exit_code = out.exit_code.max(more.exit_code);
            }
            out
        } else {
            let out = run(config(&[d], &[], &["slow"], 60)).await;
            let named = out.report.checks.iter().any(|c| {
                matches!(c.outcome, Outcome::Fail | Outcome::NonStrict) && c.clause == d.clause()
            });
            if !named && d.clause() == "POLL-5" {
                // Sends that did not overlap on a busy machine cannot show a
                // concurrency defect: once more.
                run(config(&[d], &[], &["slow"], 60)).await
            } else {
                out
            }
        };
        let failed: BTreeSet<String> = out
            .report
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Fail | Outcome::NonStrict))
            .map(|c| c.id.clone())
            .collect();
        let names_clause = out.report.checks.iter().any(|c| {
            matches!(c.outcome, Outcome::Fail | Outcome::NonStrict) && c.clause == d.clause()
        });
        if out.report.duration_ms > 5_000 {
            println!(
                "slow defect run: {} took {} ms (waited {} ms)",
                d.name(),
                out.report.duration_ms,
                out.report.summary.waited_ms
            );
        }
        let must_failed = out.report.checks.iter().any(|c| c.outcome == Outcome::Fail);
        assert_eq!(
            out.exit_code != 0,
            must_failed,
            "defect {}: exit code and verdicts disagree",
            d.name()
        );
        (d, (failed, names_clause))
    });
    // A few servers at a time: the machine is small and shared.
    futures::stream::iter(runs)
        .buffer_unordered(3)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_defect_fails_its_clause_and_every_check_is_killed() {
    let matrix = defect_matrix().await;
    let mut killers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in catalogue() {
        killers.insert(c.id, Vec::new());
    }
    let mut missed = Vec::new();
    for (d, (failed, names_clause)) in &matrix {
        if !names_clause {
            missed.push(format!("{} ({}) failed {failed:?}", d.name(), d.clause()));
        }
        for id in failed {
            if let Some(k) = killers.get_mut(id.as_str()) {
                k.push(d.name());
            }
        }
    }
    println!("\ncheck × defect matrix (defects that make each check fail):");
    for (id, ks) in &killers {
        println!(
            "  {id:<11} {}",
            if ks.is_empty() {
                "(none)".to_owned()
            } else {
                ks.join(", ")
            }
        );
    }
    println!("\ndefects and the checks they fail:");
    for (d, (failed, _)) in &matrix {
        println!(
            "  {:<28} {:<8} {}",
            d.name(),
            d.clause(),
            failed.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        missed.is_empty(),
        "defects that fail no check of their clause:\n{}",
        missed.join("\n")
    );
    let unkilled: Vec<&&str> = killers
        .iter()
        .filter(|(_, k)| k.is_empty())
        .map(|(id, _)| id)
        .collect();
    assert!(unkilled.is_empty(), "checks no defect kills: {unkilled:?}");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_written_valid_and_name_the_failure() {
    let dir = tempdir();
    let mut c = config(
        &[Defect::AfterInclusive],
        &["POLL-3", "POLL-7", "AUTH-5"],
        &[],
        60,
    );
    c.report_dir = Some(dir.path().to_owned());
    let out = run(c).await;
    assert_eq!(out.exit_code, 1);

    let json = crate::schema::assert_file_valid(
        chat_harness::report::json::SCHEMA,
        &dir.path().join("report.json"),
    );
    let failed = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "POLL-3.1")
        .unwrap();
    assert_eq!(failed["outcome"], "fail");
    assert_eq!(failed["clause"], "POLL-3");
    assert!(failed["exchanges"][0]["curl"]
        .as_str()
        .unwrap()
        .starts_with("curl"));
    // Secrets stay out: the token's secret half is masked everywhere.
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(
        text.contains("token ") && text.contains(":***"),
        "the token is shown masked"
    );

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("POLL-3.1") && junit.contains("<failure"),
        "{junit}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("What to fix") && md.contains("`POLL-3.1`"),
        "{md}"
    );
    assert!(
        md.contains("inclusive"),
        "the report says what the server did instead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_report() {
    // A server of our own, so that the test knows every secret.
    let server = chat_harness::reference::serve(
        chat_harness::reference::ServerConfig::default()
            .with_generated_users(6)
            .with_defect(Defect::UsersLeakSecret),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let dir = tempdir();
    let mut c = config(&[], &["AUTH-8", "USERS-1", "AUTH-5"], &[], 60);
    c.target = Target::Url(server.url());
    c.accounts = server.core().accounts();
    c.report_dir = Some(dir.path().to_owned());
    let out = run(c).await;
    assert_eq!(out.exit_code, 1);
    let mut text = String::new();
    for f in ["report.json", "junit.xml", "report.md"] {
        text.push_str(&std::fs::read_to_string(dir.path().join(f)).unwrap());
    }
    for a in server.core().accounts() {
        let secret = a.api_secret.unwrap();
        assert!(
            !text.contains(&secret),
            "the secret of {} is in a report",
            a.email
        );
    }
    assert!(text.contains("***"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_failing_and_exit_codes() {
    // A listed failure does not fail the run...
    let mut c = config(&[Defect::AfterInclusive], &["POLL-3"], &[], 60);
    c.known_failing = ["POLL-3.1".to_owned()].into();
    let out = run(c).await;
    assert_eq!(out.exit_code, 0, "{:?}", out.report.summary);
    assert_eq!(out.report.summary.known_failing, 1);
    // ...a listed check that passes does (stale list).
    let mut c = config(&[], &["POLL-3"], &[], 60);
    c.known_failing = ["POLL-3.1".to_owned()].into();
    let out = run(c).await;
    assert_eq!(out.exit_code, 1);
    assert_eq!(out.report.summary.stale, 1);
    // A broken SHOULD is non-strict, and fails under --strict.
    let out = run(config(&[Defect::IsoAfterRejected], &["POLL-4b"], &[], 60)).await;
    assert_eq!(
        (out.exit_code, out.report.checks[0].outcome),
        (0, Outcome::NonStrict)
    );
    let mut c = config(&[Defect::IsoAfterRejected], &["POLL-4b"], &[], 60);
    c.strict = true;
    let out = run(c).await;
    assert_eq!(
        (out.exit_code, out.report.checks[0].outcome),
        (1, Outcome::Fail)
    );
}

#[tokio::test]
async fn usage_and_setup_errors_have_their_exit_codes() {
    let code = |e: &anyhow::Error| chat_harness::cli::exit_code_for(e);
    let mut sink = Vec::new();
    let e = execute(config(&[], &["NO-SUCH-CHECK"], &[], 60), &mut sink)
        .await
        .unwrap_err();
    assert_eq!(code(&e), 2, "zero checks selected is a usage error: {e}");
    // A target nobody listens on: a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = config(&[], &["ENV-1"], &[], 60);
    c.target = Target::Url(format!("http://127.0.0.1:{port}"));
    c.accounts = ["a", "b", "c"]
        .iter()
        .map(|n| {
            chat_harness::accounts::Account::parse_user_arg(&format!("{n}@example.com:pw")).unwrap()
        })
        .collect();
    c.timeout = std::time::Duration::from_secs(2);
    let dir = tempdir();
    c.report_dir = Some(dir.path().to_owned());
    c.selection.only = vec!["ENV-1".into(), "AUTH-1".into()];
    let e = execute(c, &mut sink).await.unwrap_err();
    assert_eq!(code(&e), 3, "an unreachable target is a setup failure: {e}");

    // The reports say so, rather than being absent: a CI publishing
    // junit.xml shows why nothing ran.
    let json = crate::schema::assert_file_valid(
        chat_harness::report::json::SCHEMA,
        &dir.path().join("report.json"),
    );
    assert_eq!(json["status"], "setup_failed");
    assert_eq!(json["summary"]["verdict"], "setup_failed");
    let why = json["setup_error"].as_str().unwrap();
    assert!(why.contains(&port.to_string()), "names the target: {why}");
    let checks = json["checks"].as_array().unwrap();
    assert!(checks.len() > 1, "every selected check is listed: {json:#}");
    assert!(checks.iter().all(|c| c["outcome"] == "error"), "{json:#}");
    // The schema insists on the reason.
    let mut no_reason = json.clone();
    no_reason.as_object_mut().unwrap().remove("setup_error");
    crate::schema::assert_rejected(
        chat_harness::report::json::SCHEMA,
        &no_reason,
        "a setup failure without its reason",
    );

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<error") && junit.contains("ENV-1"),
        "{junit}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("could not be set up"), "{md}");
    assert!(!md.contains("What to fix"), "{md}");
}

#[tokio::test]
async fn listing_prints_the_catalogue() {
    let mut c = config(&[], &[], &[], 60);
    c.list = true;
    let mut sink = Vec::new();
    assert!(execute(c, &mut sink).await.unwrap().is_none());
    let text = String::from_utf8(sink).unwrap();
    for def in catalogue() {
        assert!(text.contains(def.id), "{} not listed", def.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_stops_the_run_and_leaves_a_partial_report() {
    let dir = tempdir();
    let mut c = config(&[], &["POLL"], &[], 60);
    c.deadline = Some(std::time::Duration::from_millis(1));
    c.report_dir = Some(dir.path().to_owned());
    let out = run(c).await;
    assert_eq!(out.exit_code, 1);
    assert_eq!(out.report.status, RunStatus::Interrupted);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["status"], "interrupted");
    assert_eq!(json["summary"]["verdict"], "interrupted");
    assert!(json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["outcome"] == "skip"));
}

/// An answer the contract forbids during set-up is a finding of its clause
/// (exit 1, the clause named), not an unreachable target (exit 3): a login
/// that answers an empty api_secret fails AUTH-1 and leaves the checks that
/// needed the users "not evaluated".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_answer_during_set_up_fails_its_clause() {
    use chat_harness::reference::{self, SeedUser, ServerConfig};
    let users = ["alice", "bob", "carol"]
        .iter()
        .map(|n| SeedUser::new(format!("{n}@example.com"), format!("{n}-Pw-123")))
        .collect();
    let server = reference::serve(
        ServerConfig::default()
            .with_users(users)
            .with_defect(Defect::LoginNoSecret),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let mut c = config(&[], &[], &[], 60);
    c.target = Target::Url(server.url());
    c.accounts = ["alice", "bob", "carol"]
        .iter()
        .map(|n| {
            chat_harness::accounts::Account::parse_user_arg(&format!("{n}@example.com:{n}-Pw-123"))
                .unwrap()
        })
        .collect();
    let dir = tempdir();
    c.report_dir = Some(dir.path().to_owned());
    let mut sink = Vec::new();
    let out = execute(c, &mut sink).await.unwrap().unwrap();
    let console = String::from_utf8_lossy(&sink);
    assert_eq!(out.exit_code, 1, "{console}");
    assert_eq!(out.report.status, RunStatus::SetupFailed);
    let auth1 = out
        .report
        .checks
        .iter()
        .find(|c| c.id == "AUTH-1.1")
        .unwrap();
    assert_eq!(auth1.outcome, Outcome::Fail, "{auth1:?}");
    assert!(
        auth1.message.contains("empty api_key or api_secret"),
        "{auth1:?}"
    );
    assert!(!auth1.exchanges.is_empty(), "the login is the evidence");
    let others: Vec<_> = out
        .report
        .checks
        .iter()
        .filter(|c| c.clause != "AUTH-1")
        .collect();
    assert!(!others.is_empty());
    assert!(
        others
            .iter()
            .all(|c| c.outcome == Outcome::Skip && c.message.starts_with("not evaluated")),
        "{others:?}"
    );
    assert!(console.contains("breaks AUTH-1"), "{console}");
    assert!(console.contains("not evaluated ("), "{console}");
    crate::schema::assert_file_valid(
        chat_harness::report::json::SCHEMA,
        &dir.path().join("report.json"),
    );
    server.shutdown().await;
}

/// The plan printed before the first check counts the fresh users the
/// checks take; a full run holds the table in `check/wait_plan.rs` to what the
/// checks really took, so the estimate cannot drift from the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_counts_the_fresh_users_the_checks_take() {
    let mut sink = Vec::new();
    let out = execute(config(&[], &[], &["slow"], 60), &mut sink)
        .await
        .unwrap()
        .unwrap();
    let plan = out.plan.expect("a plan");
    // RL-6.1 and RL-6.2 (skipped here) take one fresh user each.
    assert_eq!(u64::from(plan.fresh_users), out.fresh_users_taken);
    let console = String::from_utf8_lossy(&sink);
    assert!(console.contains("planned: about"), "{console}");
}

/// A second run against the same long-running server inside the same
/// window: the first run's chats are still listed and its buckets partly
/// spent, which is no reason to fail (the suite judges what it created or
/// can attribute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_in_the_same_window_passes() {
    use chat_harness::reference::{self, ServerConfig};
    let origin = "https://chat.example.com";
    let server = reference::serve(
        ServerConfig::default()
            .with_generated_users(48)
            .with_production_origin(origin)
            .with_window(10),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    for run_no in 1..=2 {
        // A 10 s window keeps the wait for the signup quota the first
        // run spent short.
        let mut c = config(&[], &[], &["slow"], 10);
        c.target = Target::Url(server.url());
        c.accounts = server.core().accounts();
        c.production_origin = Some(origin.into());
        let out = run(c).await;
        assert_clean(&out, &format!("run {run_no} against the same server"));
    }
    server.shutdown().await;
}
