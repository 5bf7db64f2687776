//! `junit.xml`: one test suite per area, one test case per check with its ID
//! in the name, for CI systems that show JUnit results.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};

use super::model::{CheckResult, Outcome, Report};

pub fn render(report: &Report) -> Vec<u8> {
    let mut out = JReport::new("chat-harness check");
    out.set_time(Duration::from_millis(report.duration_ms));
    let mut areas: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !areas.contains(&c.area.as_str()) {
            areas.push(&c.area);
        }
    }
    for area in areas {
        let mut suite = TestSuite::new(format!("check.{area}"));
        for c in report.checks.iter().filter(|c| c.area == area) {
            suite.add_test_case(case(c));
        }
        out.add_test_suite(suite);
    }
    out.to_string()
        .unwrap_or_else(|e| format!("<!-- cannot render JUnit: {e} -->\n"))
        .into_bytes()
}

fn case(c: &CheckResult) -> TestCase {
    let status = match c.outcome {
        Outcome::Pass if c.known_failing => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message("listed in --known-failing but passed: the list is stale");
            s
        }
        Outcome::Pass | Outcome::Info => TestCaseStatus::success(),
        Outcome::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(c.message.as_str());
            s
        }
        Outcome::NonStrict if !c.known_failing => {
            // Not fatal: reported, but the case does not fail the CI job.
            TestCaseStatus::success()
        }
        Outcome::Fail | Outcome::Error | Outcome::NonStrict => {
            if c.known_failing {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("known failing: {}", c.message));
                s
            } else {
                let kind = if c.outcome == Outcome::Error {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(format!("{} {}: {}", c.level, c.clause, c.message));
                s.set_type(c.outcome.as_str());
                s.set_description(super::markdown::details_text(c));
                s
            }
        }
    };
    let mut t = TestCase::new(format!("{} {}", c.id, c.statement), status);
    t.set_classname(format!("check.{}", c.area));
    t.set_time(Duration::from_millis(c.duration_ms));
    if matches!(c.outcome, Outcome::Info | Outcome::NonStrict) {
        t.set_system_out(format!("{}: {}", c.outcome.as_str(), c.message));
    }
    t
}
