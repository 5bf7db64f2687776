//! Reports of a conformance run: one model, one exporter per format. Every
//! exporter is a pure function of the [`model::Report`].

pub mod console;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod schema;

use std::path::Path;

pub use model::{Outcome, Report};

/// Writes `report.json`, `junit.xml` and `report.md` into `dir` (created if
/// needed). Each file is written to a temporary name and renamed, so a reader
/// never sees half a file.
pub fn write_all(dir: &Path, report: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join("report.json"), &json::render(report))?;
    write_atomic(&dir.join("junit.xml"), &junit::render(report))?;
    write_atomic(&dir.join("report.md"), markdown::render(report).as_bytes())?;
    Ok(())
}

/// Writes `bytes` to `path` through a hidden temporary file beside it and a
/// rename, so a reader never sees half a file. Every report file of every
/// command is written this way.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map_or_else(
        || std::ffi::OsString::from("report"),
        std::ffi::OsStr::to_os_string,
    );
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(&name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Escapes text for XML, HTML and SVG (`&`, `<`, `>` and `"`): the one
/// escaping helper of every report format.
pub(crate) fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::model::*;

    /// A small fixed report: stable snapshots without redaction.
    pub(crate) fn sample() -> Report {
        let check =
            |id: &str, clause: &str, level: &str, outcome: Outcome, message: &str| CheckResult {
                id: id.into(),
                clause: clause.into(),
                level: level.into(),
                area: id
                    .split('-')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                tags: vec![id
                    .split('-')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()],
                statement: format!("statement of {id}"),
                outcome,
                message: message.into(),
                expected: None,
                seen: None,
                notes: Vec::new(),
                known_failing: false,
                duration_ms: 3,
                waited_ms: 0,
                exchanges: Vec::new(),
            };
        let mut failed = check(
            "POLL-3.1",
            "POLL-3",
            "MUST",
            Outcome::Fail,
            "after=T did not answer exactly the messages created after T",
        );
        failed.expected = Some("[\"m3\"]".into());
        failed.seen = Some("[\"m2\", \"m3\"]".into());
        failed.notes = vec!["`after` is treated as inclusive".into()];
        failed.exchanges = vec![ExchangeRecord {
            method: "GET".into(),
            url: "http://127.0.0.1:1/api/method/frappe_chat.api.get_messages?chat=C1&after=2024-01-01+10%3A00%3A00.000002".into(),
            request_headers: vec![("Authorization".into(), "token k:***".into())],
            request_body: None,
            status: 200,
            response_headers: vec![("content-type".into(), "application/json".into())],
            body_excerpt: "{\"message\":[]}".into(),
            elapsed_ms: 1,
            curl: "curl -sS -i 'http://127.0.0.1:1/...' -H 'Authorization: token k:***'".into(),
        }];
        let mut r = Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "chat-harness".into(),
                version: "0.0.0".into(),
            },
            target: "http://127.0.0.1:1".into(),
            embedded: true,
            started_at: "2024-01-01T00:00:00Z".into(),
            duration_ms: 1234,
            status: RunStatus::Complete,
            setup_error: None,
            options: Options {
                strict: false,
                window_seconds: 60,
                limits: [("login".to_owned(), 10)].into(),
                known_failing: vec![],
                selected: 4,
            },
            summary: Summary::default(),
            checks: vec![
                check(
                    "AUTH-1.1",
                    "AUTH-1",
                    "MUST",
                    Outcome::Pass,
                    "login answered a complete pair",
                ),
                failed,
                check(
                    "POLL-4b.1",
                    "POLL-4b",
                    "SHOULD",
                    Outcome::NonStrict,
                    "after in ISO form was refused",
                ),
                check(
                    "AUTH-7.1",
                    "AUTH-7",
                    "MUST",
                    Outcome::Skip,
                    "signup is not allowed on this target: pass --signup",
                ),
            ],
        };
        r.summarize();
        r
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(super::markdown::render(&sample()));
    }

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(String::from_utf8(super::junit::render(&sample())).unwrap());
    }

    #[test]
    fn console_snapshot() {
        let r = sample();
        let style = super::console::Style {
            color: false,
            verbose: false,
        };
        let mut out = Vec::new();
        for c in &r.checks {
            super::console::check_line(&mut out, style, c);
        }
        super::console::summary_line(&mut out, style, &r);
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let back: Report = serde_json::from_slice(&super::json::render(&r)).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.summary.verdict, "non_conformant");
    }

    #[test]
    fn files_are_replaced_whole_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        super::write_atomic(&path, b"old").unwrap();
        super::write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["summary.json"]);
    }

    #[test]
    fn one_escaping_for_every_markup() {
        assert_eq!(
            super::escape_xml(r#"<a href="x">&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
