//! The hostile-server zoo: `call`, `check`, `load` (a short smoke) and
//! `limits` pointed at servers that misbehave on purpose must end within a
//! deadline, with the right exit code and a message naming the problem,
//! never a panic; the reports they do write are valid against their schemas.
//! The built binary runs each command, so exit codes and stderr are real.

mod server;
mod signals;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use server::{Hostile, HostileServer};

/// Far above any case's real duration: this bounds "does not hang".
const DEADLINE: Duration = Duration::from_secs(45);

/// What a finished command left.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args`; panics if it outlives [`DEADLINE`].
pub async fn run_bin(args: &[String]) -> Ran {
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-harness"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("chat-harness {args:?} still running after {DEADLINE:?}"))
        .unwrap();
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    assert!(
        !ran.stderr.contains("panicked"),
        "chat-harness {args:?} panicked:\n{}",
        ran.stderr
    );
    ran
}

/// A smoke scenario cut to four users and two seconds, no limit prober.
pub const TINY_SCENARIO: &str = r#"
name = "tiny"
users = 4
duration = "1s"
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
send_every = "400ms"

[[persona]]
kind = "poller-mobile"
weight = 1

[[persona]]
kind = "reader"
weight = 1
every = "1s"
"#;

/// Writes the tiny scenario and an accounts file of six password users.
pub fn write_inputs(dir: &Path) -> (String, String) {
    let scenario = dir.join("tiny.toml");
    std::fs::write(&scenario, TINY_SCENARIO).unwrap();
    let mut accounts = String::new();
    for i in 0..6 {
        accounts.push_str(&format!(
            "[[account]]\nemail = \"h{i}@example.com\"\npassword = \"Passw0rd!\"\n\n"
        ));
    }
    let file = dir.join("accounts.toml");
    std::fs::write(&file, accounts).unwrap();
    (scenario.display().to_string(), file.display().to_string())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What each command must do against one server: exit code and a phrase of
/// its output naming the problem.
struct Expect {
    call: (i32, &'static str),
    check: (i32, &'static str),
    load: (i32, &'static str),
    limits: (i32, &'static str),
}

async fn zoo_case(kind: Hostile, expect: Expect) {
    let server = HostileServer::start(kind).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let (scenario, accounts) = write_inputs(dir.path());
    let timeout = ["--timeout", "1s"];
    let call = {
        let mut a = strings(&["--target", &url]);
        a.extend(strings(&timeout));
        a.extend(strings(&[
            "call",
            "get_messages",
            "chat=CHAT-0001",
            "--token",
            "k:s",
        ]));
        a
    };
    let load = {
        let mut a = strings(&["--target", &url, "--accounts", &accounts]);
        a.extend(strings(&timeout));
        a.extend(strings(&["load", "--quiet", "--scenario", &scenario]));
        a.extend(strings(&[
            "--slo",
            "errors<1%",
            "--slo",
            "lost=0",
            "--report-dir",
        ]));
        a.push(dir.path().join("load").display().to_string());
        a
    };
    let limits = {
        let mut a = strings(&["--target", &url, "--accounts", &accounts]);
        a.extend(strings(&timeout));
        a.extend(strings(&[
            "limits",
            "--quiet",
            "--window-seconds",
            "1",
            "--only",
            "get_messages",
            "--report",
        ]));
        a.push(dir.path().join("limits").display().to_string());
        a
    };
    let check = {
        let mut a = strings(&["--target", &url, "--accounts", &accounts]);
        a.extend(strings(&timeout));
        a.extend(strings(&["check", "--window-seconds", "1", "--report"]));
        a.push(dir.path().join("check").display().to_string());
        a
    };
    let (c, k, l, m) = tokio::join!(
        run_bin(&call),
        run_bin(&check),
        run_bin(&load),
        run_bin(&limits)
    );
    let runs = [
        ("call", &c, expect.call),
        ("check", &k, expect.check),
        ("load", &l, expect.load),
        ("limits", &m, expect.limits),
    ];
    for (name, ran, _) in &runs {
        eprintln!(
            "{kind:?} {name}: exit {} in {:.1} s\n{}",
            ran.code,
            ran.took.as_secs_f64(),
            ran.all().trim()
        );
    }
    check_report_is_sound(kind, &dir.path().join("check").join("report.json"));
    // Whatever load and limits measured of a broken server is still a valid report.
    for (schema, file) in [
        (chat_harness::load::summary::SCHEMA, "load/summary.json"),
        (chat_harness::limits::report::SCHEMA, "limits/limits.json"),
    ] {
        let path = dir.path().join(file);
        if path.exists() {
            crate::schema::assert_file_valid(schema, &path);
        }
    }
    for (name, ran, (code, phrase)) in runs {
        assert_eq!(ran.code, code, "{kind:?}: {name} exit code\n{}", ran.all());
        assert!(
            ran.all().contains(phrase),
            "{kind:?}: {name} does not say {phrase:?}:\n{}",
            ran.all()
        );
    }
}

/// A check report, when one was written, is valid against its schema and
/// passes no rate-limit check (no zoo server sends valid X-RateLimit
/// headers), but RL-6.1: a steady client under the limit is rightly never
/// refused by a server that refuses nothing.
fn check_report_is_sound(kind: Hostile, path: &Path) {
    if !path.exists() {
        return;
    }
    let json = crate::schema::assert_file_valid(chat_harness::report::json::SCHEMA, path);
    for c in json["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap_or_default();
        if id.starts_with("RL-") && id != "RL-6.1" {
            assert_ne!(c["outcome"], "pass", "{kind:?}: {id} passed: {c}");
        }
    }
}

macro_rules! zoo {
    ($($name:ident: $kind:ident => call $c:literal $cp:literal, check $k:literal $kp:literal, load $l:literal $lp:literal, limits $m:literal $mp:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                zoo_case(Hostile::$kind, Expect { call: ($c, $cp), check: ($k, $kp), load: ($l, $lp), limits: ($m, $mp) }).await;
            }
        )*
        #[test]
        fn every_hostile_kind_has_a_case() {
            let covered = [$(Hostile::$kind),*];
            for k in Hostile::ALL {
                assert!(covered.contains(&k), "{k:?} has no zoo case");
            }
        }
    };
}

zoo! {
    silent: Silent => call 3 "no complete answer", check 3 "no complete answer", load 3 "no complete answer", limits 3 "no complete answer";
    headers_only: HeadersOnly => call 3 "no complete answer", check 3 "no complete answer", load 3 "no complete answer", limits 3 "no complete answer";
    trickle: Trickle => call 3 "no complete answer", check 3 "no complete answer", load 3 "no complete answer", limits 3 "no complete answer";
    reset_mid_body: ResetMidBody => call 3 "reset", check 3 "reset", load 3 "reset", limits 3 "reset";
    huge_body: Huge => call 3 "larger than the cap", check 3 "larger than the cap", load 3 "larger than the cap", limits 3 "larger than the cap";
    invalid_utf8: InvalidUtf8 => call 1 "UTF-8", check 1 "UTF-8", load 3 "UTF-8", limits 3 "UTF-8";
    invalid_json: InvalidJson => call 1 "not JSON", check 1 "not JSON", load 3 "not JSON", limits 3 "not JSON";
    wrong_shape: WrongShape => call 1 "wrong shape", check 1 "wrong shape", load 3 "wrong shape", limits 3 "wrong shape";
    ok_with_error_envelope: OkWithErrorEnvelope => call 1 "error envelope", check 1 "error envelope", load 3 "error envelope", limits 3 "error envelope";
    error_with_success_body: ErrorWithSuccessBody => call 1 "HTTP 500", check 1 "HTTP 500", load 3 "HTTP 500", limits 3 "HTTP 500";
    absurd_headers: AbsurdHeaders => call 0 "rate limit", check 1 "RL-", load 1 "lost=0: VIOLATED", limits 1 "X-RateLimit";
    close_every_connection: CloseEvery => call 3 "connection", check 3 "connection", load 3 "connection", limits 3 "connection";
    http_1_0: Http10 => call 0 "HTTP 200", check 1 "RL-", load 1 "lost=0: VIOLATED", limits 1 "X-RateLimit";
    silent_after_set_up: SilentAfterSetUp => call 3 "no complete answer", check 3 "does not answer", load 1 "errors<1%: VIOLATED", limits 3 "no complete answer";
    redirect_loop: RedirectLoop => call 1 "HTTP 302", check 1 "HTTP 302", load 3 "HTTP 302", limits 3 "HTTP 302";
}
