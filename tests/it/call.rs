//! `call --user` keeps the user's pair between calls: calls in a row spend
//! one login, the pair is kept 0600 under $XDG_CACHE_HOME per target and
//! user and never printed, a pair the server stops accepting (a login
//! elsewhere rotates it) is replaced by one new login, and `--no-cache`
//! logs in and keeps nothing.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chat_harness::client::{Client, ClientConfig};
use chat_harness::contract::Endpoint;
use chat_harness::reference::{serve, Defect, ServerConfig};

const BIN: &str = env!("CARGO_BIN_EXE_chat-harness");
const ALICE: &str = "alice@example.com:Passw0rd!";

async fn call(url: &str, cache: &Path, extra: &[&str]) -> Output {
    let child = tokio::process::Command::new(BIN)
        .args(["--target", url, "--user", ALICE, "call", "get_chats"])
        .args(extra)
        .env("XDG_CACHE_HOME", cache)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("call overran 30 s")
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn kept(cache: &Path) -> Vec<std::path::PathBuf> {
    let dir = cache.join("chat-harness").join("tokens");
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_keeps_the_pair_and_logs_in_again_only_when_refused() {
    // Four logins a minute, and every login rotates the secret (AUTH-6's
    // defect), so a kept pair is refused after a login elsewhere.
    let cfg = ServerConfig::default()
        .with_limit(Endpoint::Login, 4)
        .with_defect(Defect::RotateOnLogin);
    let server = serve(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = server.url();
    let cache = tempfile::tempdir().unwrap();

    // Five calls in a row: one login (a login each would be refused at the 5th).
    for i in 0..5 {
        let out = call(&url, cache.path(), &[]).await;
        assert_eq!(out.status.code(), Some(0), "call {i}: {}", text(&out));
    }
    let files = kept(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let kept_text = std::fs::read_to_string(&files[0]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let secret = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("api_secret = "))
            .unwrap()
            .trim_matches('"')
            .to_owned()
    };
    let first = secret(&kept_text);

    // A login elsewhere rotates the secret: the next call is refused once,
    // logs in again (the window's third login) and keeps the new pair.
    let c = Client::new(ClientConfig::new(&url)).unwrap();
    c.login("alice@example.com", "Passw0rd!").await.unwrap();
    let out = call(&url, cache.path(), &["-v"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused (401): logging in again"),
        "{}",
        text(&out)
    );
    let second = secret(&std::fs::read_to_string(&files[0]).unwrap());
    assert_ne!(first, second, "the refused pair was kept");
    assert!(
        !text(&out).contains(&second) && !text(&out).contains(&first),
        "a secret was printed: {}",
        text(&out)
    );

    // --no-cache: logs in (the window's fourth and last) and keeps nothing.
    let fresh = tempfile::tempdir().unwrap();
    let out = call(&url, fresh.path(), &["--no-cache"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(kept(fresh.path()).is_empty());
    server.shutdown().await;
}
