//! Which HTTP/1.1 client `load` should use on plain-http targets, measured:
//! today's hand-written one (`load/http1.rs`, `Conn::call`) against hyper's
//! `client::conn::http1` with its connection polled inside the caller's own
//! task (the design that would also cover https over a TLS stream), and, for
//! reference, hyper's documented way with the connection in a spawned task.
//!
//! One command, from a clean build:
//!
//!     cargo bench --bench http_path
//!     cargo bench --bench http_path -- --rounds 7 --conns 64 --requests 1000
//!     cargo bench --bench http_path -- --conns 400 --requests 200 --pace-ms 20
//!     benches/load.sh http [ARGS...]      # the same
//!
//! The reference server runs as a child process (`chat-harness serve` on
//! 127.0.0.1, random port, no rate limits), so the CPU this process spends,
//! read with getrusage(RUSAGE_SELF) around each round, is the client's alone.
//! A round: K connections (one account and one chat each, keep-alive) of N
//! requests each, in the load scenario's shape: of every ten, one
//! send_message, eight get_messages with `after=` (the first of them sees
//! the message just sent, the others nothing new) and one get_chats. The
//! connection and a first request are made before the clock starts. The
//! paths run interleaved (A B C A B C ...) on tokio's multi-thread runtime,
//! as `load` does; the medians and the ratio to http1.rs are printed.
//! `--pace-ms M` spaces each connection's requests M ms apart (a timer
//! wake-up per request, as load's users have) instead of back to back. Any
//! answer that is not a 2xx makes the round fail loudly. Everything is
//! loopback, bounded in count and time (a watchdog ends the process after
//! `--max-seconds`), and the server is stopped at the end.
//!
//! `--only PATH` runs one path and `--target URL --accounts FILE` uses a
//! running server (accounts with tokens, e.g. from `serve --accounts-out`),
//! so two whole processes can be timed against each other from outside.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_harness::client::{Client, ClientConfig, Credentials};
use chat_harness::contract::endpoint::PATH_PREFIX;
use chat_harness::contract::wire::SentMessage;
use chat_harness::contract::{Endpoint, Method};
use chat_harness::load::http1::{Conn, Origin};
use chat_harness::load::transport::{Answer, Call};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1 as hyper1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The same cap as `http1.rs`: a larger answer is a failed request.
const BODY_CAP: usize = 8 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `load/http1.rs`.
    Http1,
    /// hyper's connection polled in the caller's task.
    Hyper,
    /// hyper's connection in its own spawned task (hyper's examples).
    HyperSpawn,
}

impl Path {
    const ALL: [Path; 3] = [Path::Http1, Path::Hyper, Path::HyperSpawn];
    fn name(self) -> &'static str {
        match self {
            Path::Http1 => "http1.rs",
            Path::Hyper => "hyper-in-task",
            Path::HyperSpawn => "hyper-spawned",
        }
    }
    fn parse(s: &str) -> Option<Path> {
        Path::ALL
            .into_iter()
            .find(|p| p.name() == s || p.name().starts_with(s))
    }
}

type HyperConnection = hyper1::Connection<TokioIo<TcpStream>, Full<Bytes>>;
/// An open connection: the request half and, unless spawned, the
/// connection to poll.
type Open = (
    hyper1::SendRequest<Full<Bytes>>,
    Option<Pin<Box<HyperConnection>>>,
);

/// hyper's client on one connection, made like `http1::Conn` (no pool).
struct HyperConn {
    target: Arc<Origin>,
    spawn: bool,
    conn: Option<Open>,
}

impl HyperConn {
    fn request(&self, call: &Call<'_>) -> hyper::Request<Full<Bytes>> {
        let t = &self.target;
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (k, v) in call.params {
            encoded.append_pair(k, v);
        }
        let encoded = encoded.finish();
        let name = call.endpoint.name();
        let mut path = String::with_capacity(t.prefix.len() + 40 + name.len() + encoded.len());
        path.push_str(&t.prefix);
        path.push_str(PATH_PREFIX);
        path.push_str(name);
        let (builder, body) = match call.endpoint.method() {
            Method::Get => {
                if !encoded.is_empty() {
                    path.push('?');
                    path.push_str(&encoded);
                }
                (hyper::Request::get(path), Bytes::new())
            }
            Method::Post => (
                hyper::Request::post(path).header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                ),
                Bytes::from(encoded),
            ),
        };
        builder
            .header(http::header::HOST, &t.host)
            .header(http::header::AUTHORIZATION, call.auth)
            .header(http::header::ACCEPT, "*/*")
            .body(Full::new(body))
            .expect("a request of valid parts")
    }

    async fn call(&mut self, call: &Call<'_>) -> Answer {
        let started = Instant::now();
        let request = self.request(call);
        let mut reply = Answer::default();
        match tokio::time::timeout(self.target.timeout, self.exchange(request)).await {
            Ok(Some((parts, body))) => {
                reply.status = Some(parts.status.as_u16());
                let h = &parts.headers;
                reply.retry_after = h.contains_key(http::header::RETRY_AFTER);
                reply.remaining = h
                    .get(chat_harness::contract::ratelimit::REMAINING)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                reply.body = body;
            }
            _ => self.conn = None,
        }
        reply.elapsed = started.elapsed();
        reply
    }

    /// None: no answer (the connection is dropped).
    async fn exchange(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Option<(http::response::Parts, Bytes)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.target.addr).await.ok()?;
            stream.set_nodelay(true).ok()?;
            let (sender, conn) = hyper1::handshake(TokioIo::new(stream)).await.ok()?;
            let conn = if self.spawn {
                tokio::spawn(conn);
                None
            } else {
                Some(Box::pin(conn))
            };
            self.conn = Some((sender, conn));
        }
        let (sender, conn) = self.conn.as_mut()?;
        let work = async {
            sender.ready().await?;
            let (parts, body) = sender.send_request(request).await?.into_parts();
            let body = Limited::new(body, BODY_CAP).collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, body))
        };
        let (result, ended) = match conn {
            None => (work.await, false),
            Some(conn) => {
                tokio::pin!(work);
                tokio::select! {
                    biased;
                    // The connection first: what it reads is then taken by
                    // `work` in the same poll, without a second wake-up.
                    // It ended (a close by the server): what it delivered
                    // before that is still read.
                    _ = conn.as_mut() => (work.await, true),
                    r = &mut work => (r, false),
                }
            }
        };
        if ended || result.is_err() || sender.is_closed() {
            self.conn = None;
        }
        result.ok()
    }
}

enum AnyConn {
    Http1(Conn),
    Hyper(HyperConn),
}

impl AnyConn {
    fn new(path: Path, target: Arc<Origin>) -> AnyConn {
        match path {
            Path::Http1 => AnyConn::Http1(Conn::new(target, None)),
            Path::Hyper | Path::HyperSpawn => AnyConn::Hyper(HyperConn {
                target,
                spawn: path == Path::HyperSpawn,
                conn: None,
            }),
        }
    }
    async fn call(&mut self, call: &Call<'_>) -> Answer {
        match self {
            AnyConn::Http1(c) => c.call(call).await,
            AnyConn::Hyper(c) => c.call(call).await,
        }
    }
}

/// One connection's account and chat.
struct Seat {
    auth: String,
    chat: String,
}

#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    cpu_us_per_req: f64,
    req_per_s: f64,
    server_us_per_req: Option<f64>,
}

/// This process's user and system CPU time (all threads).
fn process_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(u.ru_utime), tv(u.ru_stime))
}

/// A child's CPU time so far: the sum over its threads of the scheduler's
/// run time in nanoseconds (/proc/PID/task/*/schedstat; Linux).
fn child_cpu(pid: u32) -> Option<Duration> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

fn content(i: usize, j: usize) -> String {
    format!("[bench {i}.{j}] lorem ipsum dolor sit amet, consectetur adipiscing")
}

/// The creation time of a sent message, as the server wrote it.
fn creation(reply: &Answer) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Env {
        message: SentMessage,
    }
    let env: Env = serde_json::from_slice(&reply.body).ok()?;
    Some(env.message.creation.as_str().to_owned())
}

/// One connection's share of a round; returns (requests, failures) counted
/// after `start` was passed.
async fn seat_run(
    path: Path,
    target: Arc<Origin>,
    seat: Arc<Seat>,
    idx: usize,
    n: usize,
    (pace, offset): (Duration, Duration),
    start: Arc<tokio::sync::Barrier>,
) -> (usize, Vec<String>) {
    let mut conn = AnyConn::new(path, target);
    let chat = seat.chat.as_str();
    let auth = seat.auth.as_str();
    let mut failures = Vec::new();
    let mut check = |what: &str, r: &Answer| {
        if !r.status.is_some_and(|s| (200..300).contains(&s)) && failures.len() < 3 {
            failures.push(format!("connection {idx} {what}: {:?}", r.status));
        }
    };
    // Before the clock: the connection and the cursor.
    let text = content(idx, 0);
    let first = conn
        .call(&Call {
            endpoint: Endpoint::SendMessage,
            params: &[("chat", chat), ("content", &text)],
            auth,
        })
        .await;
    check("send_message", &first);
    let mut cursor = creation(&first).unwrap_or_else(|| "2000-01-01 00:00:00".into());
    let mut previous = cursor.clone();
    start.wait().await;
    // Paced connections start spread over one pace, as users do.
    let mut next = tokio::time::Instant::now() + offset;
    for j in 0..n {
        if !pace.is_zero() {
            tokio::time::sleep_until(next).await;
            next += pace;
        }
        let reply = match j % 10 {
            0 => {
                let text = content(idx, j + 1);
                let r = conn
                    .call(&Call {
                        endpoint: Endpoint::SendMessage,
                        params: &[("chat", chat), ("content", &text)],
                        auth,
                    })
                    .await;
                if let Some(c) = creation(&r) {
                    previous = std::mem::replace(&mut cursor, c);
                }
                r
            }
            9 => {
                conn.call(&Call {
                    endpoint: Endpoint::GetChats,
                    params: &[],
                    auth,
                })
                .await
            }
            k => {
                let after = if k == 1 { &previous } else { &cursor };
                conn.call(&Call {
                    endpoint: Endpoint::GetMessages,
                    params: &[("chat", chat), ("after", after)],
                    auth,
                })
                .await
            }
        };
        check(reply_name(j), &reply);
    }
    (n, failures)
}

fn reply_name(j: usize) -> &'static str {
    match j % 10 {
        0 => "send_message",
        9 => "get_chats",
        _ => "get_messages",
    }
}

async fn round(
    path: Path,
    target: &Arc<Origin>,
    seats: &[Arc<Seat>],
    (n, pace): (usize, Duration),
    server: Option<u32>,
) -> Result<Sample, String> {
    let start = Arc::new(tokio::sync::Barrier::new(seats.len() + 1));
    let tasks: Vec<_> = seats
        .iter()
        .enumerate()
        .map(|(i, s)| {
            tokio::spawn(seat_run(
                path,
                target.clone(),
                s.clone(),
                i,
                n,
                (pace, pace.mul_f64(i as f64 / seats.len() as f64)),
                start.clone(),
            ))
        })
        .collect();
    start.wait().await;
    let (u0, s0) = process_cpu();
    let srv0 = server.and_then(child_cpu);
    let t0 = Instant::now();
    let mut total = 0;
    let mut failures = Vec::new();
    for t in tasks {
        let (count, f) = t
            .await
            .map_err(|e| format!("a connection's task failed: {e}"))?;
        total += count;
        failures.extend(f);
    }
    let wall = t0.elapsed();
    let (u1, s1) = process_cpu();
    let srv1 = server.and_then(child_cpu);
    if !failures.is_empty() {
        return Err(format!(
            "{}: answers that are not 2xx: {}",
            path.name(),
            failures.join("; ")
        ));
    }
    let (user, sys) = ((u1 - u0).as_secs_f64(), (s1 - s0).as_secs_f64());
    Ok(Sample {
        cpu_us_per_req: (user + sys) / total as f64 * 1e6,
        req_per_s: total as f64 / wall.as_secs_f64(),
        server_us_per_req: srv0
            .zip(srv1)
            .map(|(a, b)| (b - a).as_secs_f64() / total as f64 * 1e6),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

struct Args {
    rounds: usize,
    conns: usize,
    requests: usize,
    pace: Duration,
    paths: Vec<Path>,
    target: Option<String>,
    accounts: Option<PathBuf>,
    max_seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        rounds: 5,
        conns: 32,
        requests: 2000,
        pace: Duration::ZERO,
        paths: Path::ALL.to_vec(),
        target: None,
        accounts: None,
        max_seconds: 900,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes --bench to every harness = false target.
        if flag == "--bench" {
            continue;
        }
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag}: a value is missing"))
        };
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag} {v:?}: expected a whole number"))
        };
        match flag.as_str() {
            "--rounds" => a.rounds = number(value()?)?.clamp(1, 50),
            "--conns" => a.conns = number(value()?)?.clamp(2, 1000),
            "--requests" => a.requests = number(value()?)?.clamp(10, 100_000),
            "--pace-ms" => a.pace = Duration::from_millis(number(value()?)?.min(10_000) as u64),
            "--max-seconds" => a.max_seconds = number(value()?)?.clamp(10, 3600) as u64,
            "--only" => {
                let v = value()?;
                a.paths = v
                    .split(',')
                    .map(|p| {
                        Path::parse(p).ok_or_else(|| {
                            format!("--only {p:?}: one of http1.rs, hyper-in-task, hyper-spawned")
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--target" => a.target = Some(value()?),
            "--accounts" => a.accounts = Some(PathBuf::from(value()?)),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (see the header of benches/http_path.rs)"
                ))
            }
        }
    }
    if a.target.is_some() != a.accounts.is_some() {
        return Err("--target and --accounts go together".into());
    }
    if let Some(t) = &a.target {
        let url = url::Url::parse(t).map_err(|e| format!("--target {t:?}: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if url.scheme() != "http" || !loopback {
            return Err(format!(
                "--target {t:?}: a plain-http loopback URL (this benchmark floods it)"
            ));
        }
    }
    Ok(a)
}

/// The reference server as a child process; killed when dropped.
struct Server {
    child: Child,
    url: String,
    accounts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(users: usize) -> Result<Server, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let (port_file, accounts) = (dir.path().join("port"), dir.path().join("accounts.toml"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-harness"));
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--users",
        &users.to_string(),
    ])
    .arg("--port-file")
    .arg(&port_file)
    .arg("--accounts-out")
    .arg(&accounts);
    for e in Endpoint::ALL {
        cmd.args(["--limit", &format!("{}=off", e.name())]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chat-harness serve: {e}"))?;
    let mut server = Server {
        child,
        url: String::new(),
        accounts,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            if let Ok(port) = p.trim().parse::<u16>() {
                server.url = format!("http://127.0.0.1:{port}");
                return Ok(server);
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("chat-harness serve ended at start: {status}"));
        }
        if Instant::now() > deadline {
            return Err("chat-harness serve wrote no port within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One account and one direct chat (with the next account) per connection.
async fn seats(url: &str, accounts: &std::path::Path, n: usize) -> Result<Vec<Arc<Seat>>, String> {
    let accounts = chat_harness::accounts::load(accounts).map_err(|e| e.to_string())?;
    if accounts.len() < n {
        return Err(format!(
            "{n} connections need {n} accounts; the file has {}",
            accounts.len()
        ));
    }
    let client = Client::new(ClientConfig::new(url)).map_err(|e| e.to_string())?;
    let tag = std::process::id();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let creds: Credentials = chat_harness::accounts::sign_in(&client, &accounts[i])
            .await
            .map_err(|e| format!("account {}: {e}", accounts[i].email))?;
        let partner = accounts[(i + 1) % n].email.as_str();
        let chat = client
            .create_chat(
                &creds,
                &format!("http-path-{tag}-{i}"),
                &[partner],
                "Direct",
            )
            .await
            .map_err(|e| format!("creating a chat for {}: {e}", accounts[i].email))?
            .value;
        out.push(Arc::new(Seat {
            auth: creds.header(),
            chat,
        }));
    }
    Ok(out)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` builds this
    // target too and runs it without: a test run must not start a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("http_path: a benchmark; run it with `cargo bench --bench http_path`");
        return;
    }
    if let Err(e) = run() {
        eprintln!("http_path: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let a = args()?;
    let limit = Duration::from_secs(a.max_seconds);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let server = match &a.target {
        Some(_) => None,
        None => Some(start_server(a.conns)?),
    };
    let (url, accounts) = match (&server, &a.target, &a.accounts) {
        (Some(s), _, _) => (s.url.clone(), s.accounts.clone()),
        (None, Some(t), Some(f)) => (t.clone(), f.clone()),
        _ => unreachable!("checked in args()"),
    };
    let server_pid = server.as_ref().map(|s| s.child.id());
    let result = rt.block_on(async {
        tokio::time::timeout(limit, measure(&a, &url, &accounts, server_pid))
            .await
            .map_err(|_| format!("stopped after --max-seconds {}", a.max_seconds))?
    });
    drop(server);
    result
}

async fn measure(
    a: &Args,
    url: &str,
    accounts: &std::path::Path,
    server: Option<u32>,
) -> Result<(), String> {
    let target =
        Origin::new(url, TIMEOUT).ok_or_else(|| format!("{url}: not a plain-http address"))?;
    let addr: SocketAddr = target.addr;
    let seats = seats(url, accounts, a.conns).await?;
    println!(
        "http_path: {} connections x {} requests per round{}, {} rounds per path, interleaved; server {} ({}); {} cores, load average {:.2}",
        a.conns,
        a.requests,
        if a.pace.is_zero() { String::new() } else { format!(" (one every {:?} on each)", a.pace) },
        a.rounds,
        addr,
        if server.is_some() { "child process" } else { "external" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); a.paths.len()];
    // One unmeasured round per path first (page cache, the server's tables).
    for &p in &a.paths {
        round(p, &target, &seats, (a.requests / 10 + 10, a.pace), server).await?;
    }
    for r in 1..=a.rounds {
        for (k, &p) in a.paths.iter().enumerate() {
            let s = round(p, &target, &seats, (a.requests, a.pace), server).await?;
            println!(
                "round {r} {:<14} client {:6.1} us/req  {:7.0} req/s{}",
                p.name(),
                s.cpu_us_per_req,
                s.req_per_s,
                s.server_us_per_req
                    .map_or(String::new(), |v| format!("  server {v:6.1} us/req")),
            );
            samples[k].push(s);
        }
    }
    println!(
        "medians of {} rounds (load average now {:.2}):",
        a.rounds,
        load_average()
    );
    let base = median(samples[0].iter().map(|s| s.cpu_us_per_req).collect());
    for (k, &p) in a.paths.iter().enumerate() {
        let cpu = median(samples[k].iter().map(|s| s.cpu_us_per_req).collect());
        let lo = samples[k]
            .iter()
            .map(|s| s.cpu_us_per_req)
            .fold(f64::INFINITY, f64::min);
        let hi = samples[k]
            .iter()
            .map(|s| s.cpu_us_per_req)
            .fold(0.0, f64::max);
        let rps = median(samples[k].iter().map(|s| s.req_per_s).collect());
        // Pair by pair against the first path, as the rounds ran.
        let ratio = median(
            samples[k]
                .iter()
                .zip(&samples[0])
                .map(|(x, b)| x.cpu_us_per_req / b.cpu_us_per_req)
                .collect(),
        );
        println!(
            "  {:<14} client {cpu:6.1} us/req (min {lo:.1}, max {hi:.1})  {rps:7.0} req/s  cpu x{ratio:.2} of {} (paired median; {:.2} of medians)",
            p.name(),
            a.paths[0].name(),
            cpu / base,
        );
    }
    Ok(())
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
