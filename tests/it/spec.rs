//! `src/contract/SPEC.md` (the project's own statement of the API) and the
//! check catalogue stay in step: every check's clause has a section, every
//! section names exactly the checks of its clause, a section without checks
//! says why, and (where `../shared/CONTRACT.md` is beside the checkout) every
//! clause of the shared contract has a section at the same level.

use std::collections::{BTreeMap, BTreeSet};

use chat_harness::check::catalogue;

const SPEC: &str = include_str!("../../src/contract/SPEC.md");

/// `POLL-3`, `RL-4b`, `USERS-1`: a clause ID.
fn is_clause(s: &str) -> bool {
    let Some((area, rest)) = s.split_once('-') else {
        return false;
    };
    let digits = rest.trim_end_matches(|c: char| c.is_ascii_lowercase());
    !area.is_empty()
        && area.chars().all(|c| c.is_ascii_uppercase())
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && rest.len() - digits.len() <= 1
}

/// `POLL-3.1`: a check ID.
fn is_check(s: &str) -> bool {
    s.rsplit_once('.').is_some_and(|(clause, n)| {
        is_clause(clause) && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
    })
}

struct Section {
    level: String,
    checks: BTreeSet<String>,
    text: String,
}

/// The `### ID (LEVEL): ...` sections and the check IDs on their `Checks:` line.
fn sections() -> BTreeMap<String, Section> {
    let mut out = BTreeMap::new();
    for part in SPEC.split("\n### ").skip(1) {
        let heading = part.lines().next().unwrap();
        let (id, rest) = heading.split_once(' ').expect("### ID (LEVEL): title");
        assert!(
            is_clause(id),
            "heading {heading:?}: {id} is not a clause ID"
        );
        let level = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map(|(l, _)| l.to_owned())
            .unwrap_or_else(|| panic!("heading {heading:?}: no (LEVEL)"));
        let body = part.split("\n## ").next().unwrap();
        let checks_line = body
            .lines()
            .find(|l| l.starts_with("Checks:"))
            .unwrap_or_else(|| panic!("{id}: no `Checks:` line"));
        // The line may wrap: take the paragraph it starts.
        let para: String = body[body.find(checks_line).unwrap()..]
            .split("\n\n")
            .next()
            .unwrap()
            .replace('\n', " ");
        let checks = para
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .map(|w| w.trim_end_matches(['.', ':', ';']))
            .filter(|w| is_check(w))
            .map(str::to_owned)
            .collect();
        let prev = out.insert(
            id.to_owned(),
            Section {
                level,
                checks,
                text: body.to_owned(),
            },
        );
        assert!(prev.is_none(), "{id} has two sections");
    }
    out
}

#[test]
fn the_spec_and_the_catalogue_name_the_same_checks() {
    let spec = sections();
    assert!(spec.len() > 40, "only {} sections parsed", spec.len());
    let mut by_clause: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in catalogue() {
        let s = spec
            .get(c.clause)
            .unwrap_or_else(|| panic!("{} checks {}, which SPEC.md lacks", c.id, c.clause));
        let level = c.level.as_str();
        assert!(
            level == s.level || level == "INFO",
            "{} is {level} but its clause {} is {} in SPEC.md",
            c.id,
            c.clause,
            s.level
        );
        by_clause
            .entry(c.clause)
            .or_default()
            .insert(c.id.to_owned());
    }
    for (id, s) in &spec {
        let want = by_clause.remove(id.as_str()).unwrap_or_default();
        assert_eq!(
            s.checks, want,
            "{id}: SPEC.md's `Checks:` line and the catalogue"
        );
        if want.is_empty() {
            assert!(
                s.text.contains("Checks: none.") && s.text.contains("No check:"),
                "{id} has no check and must say why"
            );
        }
    }
}

#[test]
fn every_clause_of_the_shared_contract_has_a_section() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/CONTRACT.md");
    let Ok(contract) = std::fs::read_to_string(path) else {
        eprintln!("SKIP: {path} is not beside this checkout");
        return;
    };
    let spec = sections();
    let words: Vec<&str> = contract.split_whitespace().collect();
    let mut seen = 0;
    for pair in words.windows(2) {
        let id = pair[0];
        let level = pair[1].trim_end_matches([':', '.']);
        if is_clause(id) && ["MUST", "SHOULD", "INFO"].contains(&level) {
            seen += 1;
            let s = spec
                .get(id)
                .unwrap_or_else(|| panic!("{id} ({level}) of CONTRACT.md has no section"));
            assert_eq!(s.level, level, "{id}: level in SPEC.md");
        }
    }
    assert!(seen > 40, "only {seen} clauses found in CONTRACT.md");
}

#[test]
fn ids_are_recognised() {
    for ok in ["POLL-3", "RL-4b", "USERS-1", "AUTHZ-6b"] {
        assert!(is_clause(ok), "{ok}");
    }
    for bad in ["POLL", "poll-3", "RL-4bb", "RL-", "-3", "RL-4.1"] {
        assert!(!is_clause(bad), "{bad}");
    }
    assert!(is_check("AUTHZ-6b.1") && !is_check("AUTHZ-6b") && !is_check("RL-4."));
}

/// README's defect table names every defect of the reference server with
/// its clause (`--list-defects` prints the same), so a new defect cannot be
/// left out of it.
#[test]
fn the_readme_lists_every_defect() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let missing: Vec<String> = chat_harness::reference::Defect::ALL
        .iter()
        .filter(|d| !readme.contains(&format!("| `{}` | {} |", d.name(), d.clause())))
        .map(|d| d.name().to_owned())
        .collect();
    assert!(
        missing.is_empty(),
        "README's defect table misses {missing:?}"
    );
}
