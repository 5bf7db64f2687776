//! Every bad argument is refused with exit 2 and a message that names it and
//! what would be right, before any network traffic: the target is a
//! loopback listener that never answers, and after each run it must have
//! seen no connection; runs without --target must leave no report behind
//! (the embedded server never started). Messages are pinned by snapshots.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chat-harness");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in `cwd` (killed past 20 s) and returns its exit code and
/// stderr, the paths and the listener's port replaced by placeholders.
fn run(cwd: &Path, port: u16, args: &[String]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("CHAT_HARNESS_PASSWORD")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} overran 20 s: it must stop before any request");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let stderr = stderr
        .replace(&cwd.display().to_string(), "<tmp>")
        .replace(&root().display().to_string(), "<root>")
        .replace(&port.to_string(), "<port>");
    (status.code(), stderr)
}

#[test]
fn bad_arguments_exit_2_before_any_traffic() {
    // Accepts nothing: a connection attempt would wait in its backlog.
    let tarpit = TcpListener::bind("127.0.0.1:0").unwrap();
    tarpit.set_nonblocking(true).unwrap();
    let port = tarpit.local_addr().unwrap().port();
    let target = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let smoke = root().join("scenarios/smoke.toml").display().to_string();
    let bad_type = dir.path().join("bad-type.toml");
    std::fs::write(
        &bad_type,
        "users = 4\nduration = \"5s\"\n[[persona]]\nkind = \"chatter\"\nweight = \"twelve\"\n",
    )
    .unwrap();
    let unknown_field = dir.path().join("unknown-field.toml");
    std::fs::write(
        &unknown_field,
        "users = 4\nduration = \"5s\"\n[[persona]]\nkind = \"chatter\"\n[[persona]]\nkind = \"reader\"\nevry = \"1s\"\n",
    )
    .unwrap();
    let accounts = dir.path().join("accounts.toml");
    std::fs::write(
        &accounts,
        "[[account]]\nemail = \"a@example.com\"\npassword = 12\n",
    )
    .unwrap();
    let one = dir.path().join("one.toml");
    std::fs::write(
        &one,
        "[[account]]\nemail = \"a@example.com\"\napi_key = \"k\"\napi_secret = \"s\"\n",
    )
    .unwrap();
    let t = target.as_str();
    let s = smoke.as_str();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "slo_metric_load",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--slo",
                "latncy.p99<1s",
            ],
        ),
        (
            "slo_metric_capacity",
            vec![
                "--target",
                t,
                "capacity",
                "--scenario",
                s,
                "--slo",
                "delivry.p99<1s",
            ],
        ),
        (
            "slo_metric_merge",
            vec!["merge", "a", "--report", "m", "--slo", "loss=0"],
        ),
        (
            "slo_percentile",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--slo",
                "delivery.q99<1s",
            ],
        ),
        (
            "slo_operator",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--slo",
                "delivery.p99=<1s",
            ],
        ),
        (
            "slo_no_percentile",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--slo",
                "delivery<1s",
            ],
        ),
        (
            "accounts_without_target_load",
            vec!["--accounts", "missing.toml", "load", "--scenario", s],
        ),
        (
            "user_without_target_check",
            vec!["--user", "a@example.com:pw", "check"],
        ),
        (
            "accounts_without_target_capacity",
            vec![
                "--accounts",
                "missing.toml",
                "capacity",
                "--scenario",
                s,
                "--slo",
                "lost=0",
            ],
        ),
        (
            "user_without_target_limits",
            vec!["--user", "a@example.com:pw", "limits"],
        ),
        (
            "target_without_scheme",
            vec!["--target", "localhost:8000", "check"],
        ),
        (
            "target_unknown_scheme",
            vec!["--target", "htp://127.0.0.1:8000", "load", "--scenario", s],
        ),
        ("target_without_host", vec!["--target", "http://", "check"]),
        (
            "target_with_query",
            vec!["--target", "http://localhost:8000/?x=1", "check"],
        ),
        (
            "quiet_and_verbose",
            vec!["-q", "-v", "--target", t, "load", "--scenario", s],
        ),
        (
            "report_and_old_reports",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--report",
                "a",
                "--reports",
                "b",
            ],
        ),
        (
            "defect_with_target",
            vec![
                "--target",
                t,
                "load",
                "--scenario",
                s,
                "--defect",
                "drop-messages",
            ],
        ),
        (
            "unlimited_with_target",
            vec![
                "--target",
                t,
                "capacity",
                "--scenario",
                s,
                "--slo",
                "lost=0",
                "--unlimited",
            ],
        ),
        (
            "token_and_user",
            vec![
                "--target",
                t,
                "call",
                "get_chats",
                "--token",
                "k:s",
                "--user",
                "a@example.com:pw",
            ],
        ),
        (
            "no_cache_and_token",
            vec![
                "--target",
                t,
                "call",
                "get_chats",
                "--token",
                "k:s",
                "--no-cache",
            ],
        ),
        (
            "call_without_target",
            vec!["call", "get_chats", "--user", "a@example.com:pw"],
        ),
        ("serve_with_target", vec!["--target", t, "serve"]),
        (
            "provision_with_accounts",
            vec![
                "--target",
                t,
                "--accounts",
                "a.toml",
                "provision",
                "--count",
                "3",
                "--out",
                "p.toml",
            ],
        ),
        (
            "merge_with_target",
            vec!["--target", t, "merge", "a", "--report", "m"],
        ),
        (
            "accounts_file_missing",
            vec![
                "--target",
                t,
                "--accounts",
                "missing.toml",
                "load",
                "--scenario",
                s,
            ],
        ),
        (
            "accounts_file_bad_type",
            vec!["--target", t, "--accounts", "accounts.toml", "check"],
        ),
        (
            "scenario_bad_type",
            vec!["--target", t, "load", "--scenario", "bad-type.toml"],
        ),
        (
            "scenario_unknown_field",
            vec![
                "--target",
                t,
                "capacity",
                "--scenario",
                "unknown-field.toml",
                "--slo",
                "lost=0",
            ],
        ),
        (
            "user_without_password",
            vec!["--target", t, "--user", "a@example.com", "check"],
        ),
        (
            "too_few_accounts_load",
            vec![
                "--target",
                t,
                "--accounts",
                "one.toml",
                "load",
                "--scenario",
                s,
            ],
        ),
        (
            "too_few_accounts_capacity",
            vec![
                "--target",
                t,
                "--accounts",
                "one.toml",
                "capacity",
                "--scenario",
                s,
                "--slo",
                "lost=0",
                "--steps",
                "1,4",
            ],
        ),
        (
            "zero_timeout",
            vec!["--target", t, "--timeout", "0", "check"],
        ),
        (
            "origin_with_path",
            vec![
                "check",
                "--production-origin",
                "https://chat.example.com/app",
            ],
        ),
        (
            "origin_without_scheme",
            vec!["serve", "--production-origin", "chat.example.com"],
        ),
    ];
    let mut all = String::new();
    for (name, args) in &cases {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (code, stderr) = run(dir.path(), port, &args);
        assert_eq!(code, Some(2), "{name}: {args:?}\n{stderr}");
        assert!(
            matches!(tarpit.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{name}: {args:?} connected to the target before refusing its arguments"
        );
        all.push_str(&format!(
            "## {name}: chat-harness {}\n{}\n",
            args.join(" ")
                .replace(&root().display().to_string(), "<root>")
                .replace(&port.to_string(), "<port>"),
            stderr.trim_end()
        ));
    }
    // Nothing started: no report folder, no accounts file, no merged report.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "accounts.toml",
            "bad-type.toml",
            "one.toml",
            "unknown-field.toml"
        ],
        "a refused run left files behind"
    );
    insta::assert_snapshot!("bad_arguments", all);
}

/// A `load` that cannot start (the target refuses connections) still writes
/// its report, as `check` does: summary.json with status `setup_failed` and
/// the reason, valid against the shipped schema; exit 3, and under -q
/// nothing on stdout.
#[test]
fn a_load_that_cannot_start_writes_setup_failed() {
    use chat_harness::load::summary::SCHEMA;
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let accounts: Vec<chat_harness::accounts::Account> = (0..12)
        .map(|i| chat_harness::accounts::Account {
            email: format!("u{i}@example.com"),
            password: None,
            full_name: None,
            api_key: Some(format!("key{i}")),
            api_secret: Some(format!("secret{i}")),
        })
        .collect();
    let file = dir.path().join("accounts.toml");
    chat_harness::accounts::save(&file, &accounts).unwrap();
    let report = dir.path().join("run");
    let out = Command::new(BIN)
        .args(["-q", "--timeout", "2s", "--target"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--accounts")
        .arg(&file)
        .args(["load", "--scenario"])
        .arg(root().join("scenarios/smoke.toml"))
        .arg("--report")
        .arg(&report)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty(), "-q printed {:?}", out.stdout);
    assert!(stderr.contains("status setup_failed"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
    let json = crate::schema::assert_file_valid(SCHEMA, &report.join("summary.json"));
    assert_eq!(json["status"], "setup_failed");
    let why = json["setup_error"].as_str().unwrap();
    assert!(why.contains("creating chat #0"), "{why}");
    assert!(!why.contains("secret"), "{why}");
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("**Set-up failed: "), "{md}");
    // Without the reason, or with one on a run that started, it is refused.
    let mut bad = json.clone();
    bad.as_object_mut().unwrap().remove("setup_error");
    crate::schema::assert_rejected(SCHEMA, &bad, "setup_failed has no setup_error");
    let mut bad = json.clone();
    bad["status"] = "complete".into();
    crate::schema::assert_rejected(SCHEMA, &bad, "a complete run has a setup_error");
}

/// `-q` on the long-running commands: stdout holds the verdict only (goose's
/// "All N users launched." included in what is silenced), stderr nothing.
/// Without it, goose's line goes to stderr, never into the verdict.
#[test]
fn quiet_leaves_only_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = root().join("scenarios/smoke.toml").display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["-q", "load", "--scenario", &smoke, "--report", "l"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("smoke: "), "{stdout}");
    assert_eq!(lines.last(), Some(&"reports: l"), "{stdout}");
    assert!(!stdout.contains("launched"), "{stdout}");

    let (code, stdout, stderr) = run(&[
        "capacity",
        "-q",
        "--scenario",
        &smoke,
        "--steps",
        "4",
        "--ramp",
        "1s",
        "--hold",
        "1s",
        "--slo",
        "lost=0",
        "--report",
        "c",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        !stdout.contains("launched") && stdout.contains("knee"),
        "{stdout}"
    );

    let (code, stdout, stderr) = run(&["check", "-q", "--only", "ENV"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    assert!(stdout.trim().starts_with("CONFORMANT: "), "{stdout}");

    // Not quiet: goose's line is on stderr, stdout still the verdict only.
    let (code, stdout, stderr) = run(&["load", "--scenario", &smoke, "--report", "l2"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("users launched"), "{stderr}");
    assert!(!stdout.contains("launched"), "{stdout}");
}
