//! The only file that knows goose. It turns a run into a goose attack
//! (`initialize_with_config`, never `initialize()`, which parses argv and
//! exits; telnet and websocket controllers off), lets goose schedule the
//! users and keep its per-endpoint request metrics and HTML/JSON reports,
//! and converts goose's metrics into our own types at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use goose::client::GooseClientBuilder;
use goose::config::GooseConfiguration;
use goose::goose::{GooseRequest, GooseUser, Scenario, Transaction, TransactionFunction};
use goose::GooseAttack;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::behaviour::{UserRun, MAX_NAP};
use super::connect::ClientFactory;
use super::http1::{Conn, Origin};
use super::scenario::Ramp;
use super::shared::Shared;
use super::transport::{Answer, Call, Wire};
use crate::contract::Method;

/// Largest answer read; more is a failed request.
const BODY_CAP: usize = 8 << 20;

/// What the engine needs besides the shared run state.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub base_url: String,
    pub report_dir: std::path::PathBuf,
    pub timeout: Duration,
}

/// goose's view of the run, per request name, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GooseRow {
    /// goose's aggregation key, e.g. `GET get_messages`.
    pub name: String,
    /// Requests goose counted as successful.
    pub success: u64,
    /// Requests goose counted as failed.
    pub fail: u64,
    /// Mean response time, ms.
    #[schemars(range(min = 0))]
    pub mean_ms: f64,
    /// goose's 99th percentile response time, ms; for a merge, of every
    /// shard's buckets added (see merged.goose_p99).
    #[schemars(range(min = 0))]
    pub p99_ms: f64,
}

/// goose's own view of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GooseOutcome {
    /// goose's request rows.
    pub rows: Vec<GooseRow>,
    /// Largest number of users goose ran at once.
    pub max_users: usize,
    /// Run duration as goose measured it, whole seconds.
    pub duration_s: usize,
    /// Set when goose stopped early (Ctrl-C, or our own stop).
    pub interrupted: bool,
    /// goose's own error, when it failed; null otherwise.
    pub error: Option<String>,
}

/// A user's state between goose's calls of its step: our run and, for
/// plain-http targets, its own connection (`http1.rs`).
type UserState = (UserRun, Option<Conn>);

#[derive(Clone)]
struct Slot(Arc<Mutex<Option<UserState>>>);

struct GooseWire<'a> {
    user: &'a mut GooseUser,
    base: &'a str,
    conn: Option<&'a mut Conn>,
}

impl Wire for GooseWire<'_> {
    async fn call(&mut self, call: Call<'_>) -> Answer {
        let Some(conn) = self.conn.as_deref_mut() else {
            return self.call_reqwest(call).await;
        };
        let reply = conn.call(&call).await;
        // goose keeps its per-endpoint row and report from this, under the
        // same key as a request it made itself ("GET get_messages").
        let method = match call.endpoint.method() {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        // A refusal is the server doing what the contract says, not a
        // failed request: goose's rows and report count it as a success
        // (our summary keeps it apart as `refused`).
        let ok = reply.is_success_or_refusal();
        let _ = self
            .user
            .record_custom_request_duration(
                method,
                call.endpoint.name(),
                reply.elapsed,
                ok,
                reply.status,
                None,
            )
            .await;
        reply
    }
}

impl GooseWire<'_> {
    /// https targets: through goose's request path and the user's reqwest client.
    async fn call_reqwest(&mut self, call: Call<'_>) -> Answer {
        let url = format!("{}{}", self.base, call.endpoint.path());
        let rb = match call.endpoint.method() {
            Method::Get => self.user.client.get(url).query(call.params),
            Method::Post => self.user.client.post(url).form(call.params),
        }
        .header(http::header::AUTHORIZATION, call.auth);
        let request = GooseRequest::builder()
            .set_request_builder(rb)
            .name(call.endpoint.name())
            .build();
        let started = Instant::now();
        let mut reply = Answer::default();
        let Ok(response) = self.user.request(request).await else {
            reply.elapsed = started.elapsed();
            return reply;
        };
        let goose::goose::GooseResponse {
            request: mut metric,
            response,
        } = response;
        if let Ok(resp) = response {
            let status = resp.status().as_u16();
            reply.remaining = resp
                .headers()
                .get(crate::contract::ratelimit::REMAINING)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            reply.retry_after = resp
                .headers()
                .contains_key(crate::contract::ratelimit::RETRY_AFTER);
            if let Some(body) = read_capped(resp).await {
                reply.status = Some(status);
                reply.body = body;
            }
        }
        reply.elapsed = started.elapsed();
        // goose marked every non-2xx a failure; a refusal is not one.
        if !metric.success && reply.is_success_or_refusal() {
            let _ = self.user.set_success(&mut metric);
        }
        reply
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Option<Bytes> {
    if resp.content_length().is_some_and(|n| n > BODY_CAP as u64) {
        return None;
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        if buf.len() + chunk.len() > BODY_CAP {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(buf.freeze())
}

fn goose_args(shared: &Shared, cfg: &EngineConfig) -> Vec<String> {
    let s = &shared.scenario;
    let dir = cfg.report_dir.display();
    let mut args: Vec<String> = vec![
        "--host".into(),
        cfg.base_url.clone(),
        "--no-telnet".into(),
        "--no-print-metrics".into(),
        "--no-error-summary".into(),
        "--no-reset-metrics".into(),
        "--no-transaction-metrics".into(),
        "--no-scenario-metrics".into(),
        "--quiet".into(),
        // Not report.html: goose's page loads its chart library from a CDN
        // and shows empty charts offline (CI runners, archives); our
        // summary.html draws the same and more from inline SVG.
        "--report-file".into(),
        format!("{dir}/report.json"),
        "--timeout".into(),
        format!("{}", cfg.timeout.as_secs_f64().ceil().max(1.0)),
    ];
    // goose counts run time from when every user has started; we stop
    // ourselves at `shared.end()`, so give it a little more than that (the
    // cap: an `iterations` run ends earlier, when the killswitch in `step`
    // sees it complete). goose's own `--iterations` counts passes over the
    // scenario's transactions, which here are steps of our behaviour, not
    // iterations of a persona: the behaviour counts them itself.
    let after_ramp = s.duration + s.grace + Duration::from_secs(2);
    match &s.ramp {
        Ramp::Rate { users_per_second } => {
            args.extend([
                "--users".into(),
                s.users.to_string(),
                "--increase-rate".into(),
                format!("{users_per_second}"),
                "--run-time".into(),
                format!("{}", after_ramp.as_secs_f64().ceil() as u64),
            ]);
        }
        Ramp::Steps { steps } => {
            let secs = |d: Duration| d.as_secs_f64().ceil() as u64;
            let mut plan: Vec<String> = Vec::new();
            for st in steps {
                plan.push(format!("{},{}", st.users, secs(st.over)));
                plan.push(format!("{},{}", st.users, secs(st.hold)));
            }
            let last = steps.last().map_or(0, |st| st.users);
            plan.push(format!("{last},{}", secs(after_ramp)));
            plan.push("0,0".into());
            args.extend(["--test-plan".into(), plan.join(";")]);
        }
    }
    args
}

/// Errors only: goose warns about every failed request, which a load run
/// counts instead of printing (thousands of lines under load).
struct Quiet;

impl log::Log for Quiet {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Error
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) && r.target().starts_with("goose") {
            eprintln!("goose: {}", r.args());
        }
    }
    fn flush(&self) {}
}

static QUIET: Quiet = Quiet;

/// Runs the attack to its end (or until stopped) and converts goose's metrics.
pub async fn run(shared: Arc<Shared>, cfg: EngineConfig) -> GooseOutcome {
    // Installed once per process; goose's own logger then fails to install
    // (it says so at a level nobody sees) and keeps quiet.
    if log::set_logger(&QUIET).is_ok() {
        log::set_max_level(log::LevelFilter::Error);
    }
    let args = goose_args(&shared, &cfg);
    let config = match GooseConfiguration::parse_args_default(&args) {
        Ok(c) => c,
        Err(e) => {
            return GooseOutcome {
                error: Some(format!("goose refused its configuration: {e}")),
                ..GooseOutcome::default()
            }
        }
    };
    let factory = ClientFactory::new(&cfg.base_url, cfg.timeout);
    let base: Arc<str> = Arc::from(cfg.base_url.trim_end_matches('/'));
    let fast = Origin::new(&cfg.base_url, cfg.timeout);
    let n_users = shared.plan.users.len().max(1);

    let on_start: TransactionFunction = {
        let shared = shared.clone();
        Arc::new(move |user: &mut GooseUser| {
            let shared = shared.clone();
            let factory = factory.clone();
            let fast = fast.clone();
            Box::pin(async move {
                let idx = (user.weighted_users_index % n_users) as u32;
                let conn = match fast {
                    Some(t) => Some(Conn::new(t, factory.source_address(idx))),
                    None => {
                        if let Ok(c) = factory.client(idx) {
                            user.client = c;
                        }
                        None
                    }
                };
                shared.stats.user_started();
                let run = UserRun::new(&shared, idx, Instant::now());
                user.set_session_data(Slot(Arc::new(Mutex::new(Some((run, conn))))));
                Ok(())
            })
        })
    };
    let step: TransactionFunction = {
        let shared = shared.clone();
        let base = base.clone();
        Arc::new(move |user: &mut GooseUser| {
            let shared = shared.clone();
            let base = base.clone();
            Box::pin(async move {
                let Some(slot) = user.get_session_data::<Slot>().cloned() else {
                    tokio::time::sleep(MAX_NAP).await;
                    return Ok(());
                };
                let taken = slot.0.lock().ok().and_then(|mut g| g.take());
                let Some((mut run, mut conn)) = taken else {
                    tokio::time::sleep(MAX_NAP).await;
                    return Ok(());
                };
                let mut wire = GooseWire {
                    user,
                    base: &base,
                    conn: conn.as_mut(),
                };
                let more = run.step(&mut wire, &shared).await;
                if crate::shutdown::requested() && !shared.control.stopped() {
                    shared.control.stop(crate::shutdown::REASON.into());
                }
                if shared.control.stopped() {
                    goose::trigger_killswitch("chat-harness stopped the run");
                } else if shared.completed(Instant::now()) {
                    // Every user did its iterations and the grace is over:
                    // the run is complete, not interrupted (see `run`).
                    goose::trigger_killswitch("every user finished its iterations");
                }
                if !more {
                    tokio::time::sleep(MAX_NAP).await;
                }
                if let Ok(mut g) = slot.0.lock() {
                    *g = Some((run, conn));
                }
                Ok(())
            })
        })
    };
    let on_stop: TransactionFunction = {
        let shared = shared.clone();
        Arc::new(move |_user: &mut GooseUser| {
            let shared = shared.clone();
            Box::pin(async move {
                shared.stats.user_stopped();
                Ok(())
            })
        })
    };

    let scenario = Scenario::new("chat")
        .register_transaction(Transaction::new(on_start).set_name("start").set_on_start())
        .register_transaction(Transaction::new(step).set_name("step"))
        .register_transaction(Transaction::new(on_stop).set_name("stop").set_on_stop());

    let attack = GooseAttack::initialize_with_config(config).and_then(|a| {
        // One shared client while goose builds its users (cheap); each user
        // then takes its own from the factory in its on_start.
        a.set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies())
    });
    let attack = match attack {
        Ok(a) => a.register_scenario(scenario),
        Err(e) => {
            return GooseOutcome {
                error: Some(format!("goose: {e}")),
                ..GooseOutcome::default()
            }
        }
    };
    let result = attack.execute().await;
    let interrupted = goose::is_killswitch_triggered() && !shared.completed(Instant::now());
    match result {
        Ok(m) => convert(&m, interrupted),
        Err(e) => GooseOutcome {
            error: Some(format!("goose: {e}")),
            interrupted,
            ..GooseOutcome::default()
        },
    }
}

fn convert(m: &goose::metrics::GooseMetrics, interrupted: bool) -> GooseOutcome {
    let mut rows: Vec<GooseRow> = m
        .requests
        .iter()
        .map(|(name, r)| {
            let t = &r.raw_data;
            GooseRow {
                name: name.clone(),
                success: r.success_count as u64,
                fail: r.fail_count as u64,
                mean_ms: if t.counter > 0 {
                    t.total_time_us as f64 / t.counter as f64 / 1000.0
                } else {
                    0.0
                },
                p99_ms: t.percentile_us(0.99) as f64 / 1000.0,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    GooseOutcome {
        rows,
        max_users: m.maximum_users,
        duration_s: m.duration,
        interrupted,
        error: None,
    }
}

/// goose's p99 per request row (ms) for the union of several runs: the
/// response-time buckets that goose writes in each run's `report.json`
/// (`raw_metrics.requests.<row>.raw_data`) added together, then goose's own
/// percentile taken of the sum, so a merged row reads what one goose holding
/// every request would have printed. `Err` names the first report that
/// cannot be read; the caller then falls back to an inexact figure.
pub fn merged_p99_ms(reports: &[PathBuf]) -> Result<BTreeMap<String, f64>, String> {
    use goose::metrics::GooseRequestMetricTimingData;
    use serde_json::{json, Map, Value};

    // Per row: minimum, maximum, total (µs), counter, and the buckets.
    #[derive(Default)]
    struct Sum {
        min_us: Option<u64>,
        max_us: u64,
        total_us: u64,
        counter: u64,
        buckets: BTreeMap<u64, u64>,
    }
    let mut rows: BTreeMap<String, Sum> = BTreeMap::new();
    for path in reports {
        let what = path.display();
        let text = std::fs::read(path).map_err(|e| format!("{what}: {e}"))?;
        let report: Value = serde_json::from_slice(&text).map_err(|e| format!("{what}: {e}"))?;
        let requests = report
            .pointer("/raw_metrics/requests")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{what}: no raw_metrics.requests"))?;
        for (name, row) in requests {
            let raw = row
                .get("raw_data")
                .ok_or_else(|| format!("{what}: {name}: no raw_data"))?;
            let field = |k: &str| {
                raw.get(k)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{what}: {name}: no {k}"))
            };
            let counter = field("counter")?;
            let s = rows.entry(name.clone()).or_default();
            if counter > 0 {
                let min = field("minimum_time_us")?;
                s.min_us = Some(s.min_us.map_or(min, |m| m.min(min)));
                s.max_us = s.max_us.max(field("maximum_time_us")?);
            }
            s.total_us += field("total_time_us")?;
            s.counter += counter;
            let buckets = raw
                .get("times_us")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{what}: {name}: no times_us"))?;
            for (bucket, n) in buckets {
                let b: u64 = bucket
                    .parse()
                    .map_err(|_| format!("{what}: {name}: bucket {bucket:?}"))?;
                *s.buckets.entry(b).or_default() += n.as_u64().unwrap_or(0);
            }
        }
    }
    rows.into_iter()
        .map(|(name, s)| {
            // goose's reader takes what goose's writer wrote: build that.
            let times_us: Map<String, Value> = s
                .buckets
                .iter()
                .map(|(b, n)| (b.to_string(), json!(n)))
                .collect();
            let min_us = s.min_us.unwrap_or(0);
            let data = json!({
                "minimum_time": min_us / 1000,
                "maximum_time": s.max_us / 1000,
                "total_time": s.total_us / 1000,
                "counter": s.counter,
                "times_us": times_us,
                "minimum_time_us": min_us,
                "maximum_time_us": s.max_us,
                "total_time_us": s.total_us,
            });
            let t: GooseRequestMetricTimingData =
                serde_json::from_value(data).map_err(|e| format!("{name}: {e}"))?;
            Ok((name, t.percentile_us(0.99) as f64 / 1000.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::merged_p99_ms;

    /// A goose `report.json` holding one request row.
    fn report(dir: &std::path::Path, name: &str, buckets: &[(u64, u64)]) -> std::path::PathBuf {
        let counter: u64 = buckets.iter().map(|b| b.1).sum();
        let times: serde_json::Map<String, serde_json::Value> = buckets
            .iter()
            .map(|(b, n)| (b.to_string(), serde_json::json!(n)))
            .collect();
        let min = buckets.first().map_or(0, |b| b.0);
        let max = buckets.last().map_or(0, |b| b.0);
        let total: u64 = buckets.iter().map(|(b, n)| b * n).sum();
        let json = serde_json::json!({ "raw_metrics": { "requests": { "GET get_messages": {
            "path": "get_messages", "method": "Custom",
            "raw_data": {
                "minimum_time": min / 1000, "maximum_time": max / 1000,
                "total_time": total / 1000, "counter": counter, "times_us": times,
                "minimum_time_us": min, "maximum_time_us": max, "total_time_us": total,
            }
        }}}});
        let path = dir.join(name);
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn goose_p99_of_added_buckets() {
        let dir = tempfile::tempdir().unwrap();
        // 100 requests each. A: 98 at 100 µs, one at 200, one at 300.
        // B: 99 at 100 µs, one at 1,000.
        let a = report(dir.path(), "a.json", &[(100, 98), (200, 1), (300, 1)]);
        let b = report(dir.path(), "b.json", &[(100, 99), (1000, 1)]);
        let p = |paths: &[std::path::PathBuf]| merged_p99_ms(paths).unwrap()["GET get_messages"];
        // goose's rank is round(n x 0.99): the 99th of 100 alone, the 198th
        // of 200 together. Buckets under 128 µs are exact; 200 µs sits in a
        // 2 µs bucket that reads its middle, 201 µs.
        assert_eq!(p(std::slice::from_ref(&a)), 0.201);
        assert_eq!(p(std::slice::from_ref(&b)), 0.1);
        assert_eq!(p(&[a.clone(), b.clone()]), 0.201);
        // Order does not matter; B twice: the 198th of 200 is among the 198
        // requests at 100 µs.
        assert_eq!(p(&[b.clone(), a.clone()]), 0.201);
        assert_eq!(p(&[b.clone(), b.clone()]), 0.1);
    }

    #[test]
    fn an_unreadable_goose_report_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.json");
        let err = merged_p99_ms(&[missing]).unwrap_err();
        assert!(err.contains("gone.json"), "{err}");
        let odd = dir.path().join("odd.json");
        std::fs::write(&odd, r#"{"raw_metrics": {"requests": {"GET x": {}}}}"#).unwrap();
        let err = merged_p99_ms(&[odd]).unwrap_err();
        assert!(err.contains("GET x") && err.contains("raw_data"), "{err}");
    }
}
