//! `chat-harness merge`: shard results into one report of the same format as
//! a single run. Histograms are added with HdrHistogram's own addition (so
//! every percentile is what one machine holding all samples would report),
//! counts are summed, timelines are aligned by wall-clock second, and every
//! shard keeps its row in the breakdown.
//!
//! What cannot be exact, and is said so: `users.max_active` is the sum of
//! the shards' maxima (they reach full load together when started with
//! `--start-at`). goose's own rows keep exact counts and means, and their
//! p99 is goose's percentile of the response-time buckets of every shard's
//! goose `report.json` added together; when a shard's goose report is
//! missing or unreadable, the rows show the largest shard p99 instead and
//! `merged.goose_p99` says so. Our per-endpoint latencies are always exact.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::breakdown::{MergedInfo, ShardRow};
use super::read::{MergeError, ShardResult};
use crate::load::delivery::{DeliveryCounts, DeliveryReport};
use crate::load::goose::{merged_p99_ms, GooseOutcome, GooseRow};
use crate::load::hist::{Hist, HistSummary};
use crate::load::stats::{EndpointSummary, Tick};
use crate::load::summary::{
    IterationsSummary, LoadStatus, LoadSummary, RequestsSummary, UsersSummary, SCHEMA_VERSION,
};

/// Adds histograms exactly.
struct HistSum<'a> {
    hist: Hist,
    what: &'a str,
}

impl<'a> HistSum<'a> {
    fn new(what: &'a str) -> Self {
        HistSum {
            hist: Hist::new(),
            what,
        }
    }
    fn add(&mut self, r: &ShardResult, h: &HistSummary) -> Result<(), MergeError> {
        let decoded = Hist::decode(&h.hdr).map_err(|message| MergeError::Histogram {
            path: r.name(),
            what: self.what.to_owned(),
            message,
        })?;
        if decoded.len() != h.count {
            return Err(MergeError::Histogram {
                path: r.name(),
                what: self.what.to_owned(),
                message: format!("holds {} values but says {}", decoded.len(), h.count),
            });
        }
        self.hist.add(&decoded);
        Ok(())
    }
}

fn add_counts(a: &mut DeliveryCounts, b: &DeliveryCounts) {
    a.sent += b.sent;
    a.expected += b.expected;
    a.delivered += b.delivered;
    a.lost += b.lost;
    a.lost_client_model += b.lost_client_model;
    a.unconfirmed += b.unconfirmed;
    a.duplicated += b.duplicated;
    a.out_of_order += b.out_of_order;
    a.seen_unsent += b.seen_unsent;
    a.late_visible += b.late_visible;
}

/// goose's rows of all shards, and how their p99 was merged (see
/// [`MergedInfo::goose_p99`]).
fn merge_goose(shards: &[ShardResult]) -> (Option<GooseOutcome>, String) {
    let outs: Vec<&GooseOutcome> = shards
        .iter()
        .filter_map(|r| r.summary.goose.as_ref())
        .collect();
    if outs.is_empty() {
        return (None, "no goose rows".into());
    }
    let reports: Vec<PathBuf> = shards.iter().map(|r| r.dir.join("report.json")).collect();
    let exact = merged_p99_ms(&reports);
    let mut rows: BTreeMap<String, (u64, u64, f64, f64)> = BTreeMap::new();
    for g in &outs {
        for row in &g.rows {
            let e = rows.entry(row.name.clone()).or_default();
            let n = (row.success + row.fail) as f64;
            e.0 += row.success;
            e.1 += row.fail;
            e.2 += row.mean_ms * n;
            e.3 = e.3.max(row.p99_ms);
        }
    }
    let errors: Vec<String> = shards
        .iter()
        .filter_map(|r| {
            let e = r.summary.goose.as_ref()?.error.as_ref()?;
            Some(format!("shard {}: {e}", r.info().index))
        })
        .collect();
    let outcome = GooseOutcome {
        rows: rows
            .into_iter()
            .map(|(name, (success, fail, total_ms, p99_ms))| GooseRow {
                success,
                fail,
                mean_ms: if success + fail > 0 {
                    total_ms / (success + fail) as f64
                } else {
                    0.0
                },
                p99_ms: match &exact {
                    Ok(p99) => p99.get(&name).copied().unwrap_or(p99_ms),
                    Err(_) => p99_ms,
                },
                name,
            })
            .collect(),
        max_users: outs.iter().map(|g| g.max_users).sum(),
        duration_s: outs.iter().map(|g| g.duration_s).max().unwrap_or(0),
        interrupted: outs.iter().any(|g| g.interrupted),
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    };
    let how = match exact {
        Ok(_) => "exact".to_owned(),
        Err(why) => format!("largest shard: {why}"),
    };
    (Some(outcome), how)
}

/// Merges checked shards (see [`check`]) into one summary.
pub(crate) fn merge(shards: &[ShardResult]) -> Result<LoadSummary, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let (goose, goose_p99) = merge_goose(shards);
    let origin = shards
        .iter()
        .map(|r| r.info().origin_unix_ms)
        .min()
        .unwrap_or(0);
    let offset = |r: &ShardResult| -> u32 {
        ((r.info().origin_unix_ms - origin + 500) / 1000).max(0) as u32
    };

    let mut users = UsersSummary {
        planned: 0,
        max_active: 0,
        personas: BTreeMap::new(),
        chats: 0,
        iterations: None,
    };
    let mut all = HistSum::new("request latency");
    let mut delivery = HistSum::new("delivery latency");
    let mut catchup = HistSum::new("catch-up latency");
    let mut lateness = HistSum::new("poll lateness");
    let mut endpoints: BTreeMap<String, (EndpointSummary, HistSum)> = BTreeMap::new();
    let mut counts = DeliveryCounts::default();
    let (mut total, mut errors, mut refused_expected, mut refused_unexpected) = (0, 0, 0, 0);
    let mut timeline: Vec<Tick> = Vec::new();
    let mut elapsed: f64 = 0.0;
    let mut rows = Vec::new();
    let mut stopped = Vec::new();

    for r in shards {
        let s = &r.summary;
        users.planned += s.users.planned;
        users.max_active += s.users.max_active;
        users.chats += s.users.chats;
        for (k, v) in &s.users.personas {
            *users.personas.entry(k.clone()).or_default() += v;
        }
        if let Some(it) = &s.users.iterations {
            let m = users.iterations.get_or_insert(IterationsSummary {
                per_user: it.per_user,
                finished: 0,
                unfinished: 0,
            });
            m.finished += it.finished;
            m.unfinished += it.unfinished;
        }
        total += s.requests.total;
        errors += s.requests.errors;
        refused_expected += s.requests.refused_expected;
        refused_unexpected += s.requests.refused_unexpected;
        all.add(r, &s.requests.latency)?;
        delivery.add(r, &s.delivery.latency)?;
        catchup.add(r, &s.delivery.catchup)?;
        lateness.add(r, &s.poll_lateness)?;
        add_counts(&mut counts, &s.delivery.counts);
        for (name, e) in &s.requests.per_endpoint {
            let (sum, hist) = endpoints.entry(name.clone()).or_insert_with(|| {
                (
                    EndpointSummary {
                        requests: 0,
                        ok: 0,
                        refused_expected: 0,
                        refused_unexpected: 0,
                        failed: 0,
                        transport_errors: 0,
                        statuses: BTreeMap::new(),
                        latency: Hist::new().summary(),
                    },
                    HistSum::new("endpoint latency"),
                )
            });
            sum.requests += e.requests;
            sum.ok += e.ok;
            sum.refused_expected += e.refused_expected;
            sum.refused_unexpected += e.refused_unexpected;
            sum.failed += e.failed;
            sum.transport_errors += e.transport_errors;
            for (code, n) in &e.statuses {
                *sum.statuses.entry(*code).or_default() += n;
            }
            hist.add(r, &e.latency)?;
        }
        let off = offset(r);
        for t in &s.timeline {
            let at = (off + t.t) as usize;
            if timeline.len() <= at {
                timeline.extend((timeline.len()..=at).map(|i| Tick {
                    t: i as u32,
                    requests: 0,
                    errors: 0,
                    users: 0,
                }));
            }
            let slot = &mut timeline[at];
            slot.requests += t.requests;
            slot.errors += t.errors;
            slot.users += t.users;
        }
        elapsed = elapsed.max(off as f64 + s.elapsed_s);
        if let Some(why) = &s.stopped_early {
            stopped.push(format!("shard {}: {why}", r.info().index));
        }
        rows.push(ShardRow {
            shard: r.info().clone(),
            source: r.name(),
            target: s.target.clone(),
            started_at: s.started_at.clone(),
            offset_s: off,
            elapsed_s: s.elapsed_s,
            stopped_early: s.stopped_early.clone(),
            partial: s.partial,
            max_active: s.users.max_active,
            requests: s.requests.total,
            errors: s.requests.errors,
            latency_p99_us: s.requests.latency.p99_us,
            delivery: s.delivery.counts.clone(),
            delivery_p99_us: s.delivery.latency.p99_us,
            poll_lateness_p99_us: s.poll_lateness.p99_us,
        });
    }
    // Each target once, in the order shards first name it (A, B, A -> A, B).
    let mut targets: Vec<&str> = Vec::new();
    for t in shards.iter().map(|r| r.summary.target.as_str()) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let earliest = shards
        .iter()
        .min_by_key(|r| r.info().origin_unix_ms)
        .unwrap_or(first);
    Ok(LoadSummary {
        schema_version: SCHEMA_VERSION,
        tool: format!("chat-harness {}", env!("CARGO_PKG_VERSION")),
        scenario: first.summary.scenario.clone(),
        scenario_resolved: first.summary.scenario_resolved.clone(),
        target: targets.join(", "),
        started_at: earliest.summary.started_at.clone(),
        elapsed_s: (elapsed * 10.0).round() / 10.0,
        stopped_early: (!stopped.is_empty()).then(|| stopped.join("; ")),
        partial: shards.iter().any(|r| r.summary.partial),
        status: if shards.iter().any(|r| r.summary.partial) {
            LoadStatus::Partial
        } else {
            LoadStatus::Complete
        },
        setup_error: None,
        users,
        requests: RequestsSummary {
            total,
            errors,
            refused_expected,
            refused_unexpected,
            per_second: if elapsed > 0.0 {
                (total as f64 / elapsed * 10.0).round() / 10.0
            } else {
                0.0
            },
            latency: all.hist.summary(),
            per_endpoint: endpoints
                .into_iter()
                .map(|(k, (mut e, h))| {
                    e.latency = h.hist.summary();
                    (k, e)
                })
                .collect(),
        },
        delivery: DeliveryReport {
            counts,
            latency: delivery.hist.summary(),
            catchup: catchup.hist.summary(),
        },
        poll_lateness: lateness.hist.summary(),
        timeline,
        goose,
        slo: Vec::new(),
        shard: None,
        merged: Some(MergedInfo {
            scenario_hash: first.info().scenario_hash.clone(),
            shards: rows,
            goose_p99,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::dist::read::{check, read};
    use crate::load::dist::shard::ShardInfo;
    use proptest::prelude::*;

    fn hist(samples: &[u64]) -> Hist {
        let mut h = Hist::new();
        samples.iter().for_each(|&v| h.record_us(v));
        h
    }

    /// A shard's summary holding `samples` as every latency (catch-up: each
    /// sample plus 7 µs, so that a mix-up with delivery shows), and `n` as
    /// every count.
    fn shard(index: u32, count: u32, samples: &[u64], n: u64, origin_ms: i64) -> ShardResult {
        let h = hist(samples).summary();
        let counts = DeliveryCounts {
            sent: n,
            expected: 2 * n,
            delivered: 2 * n,
            lost: n % 3,
            ..DeliveryCounts::default()
        };
        let endpoint = EndpointSummary {
            requests: n,
            ok: n,
            refused_expected: 0,
            refused_unexpected: 0,
            failed: 0,
            transport_errors: 0,
            statuses: BTreeMap::from([(200, n)]),
            latency: h.clone(),
        };
        let summary = LoadSummary {
            schema_version: SCHEMA_VERSION,
            tool: "t".into(),
            scenario: "s".into(),
            scenario_resolved: serde_json::json!({"name": "s"}),
            target: "http://10.0.0.1:8000".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            elapsed_s: 3.0,
            stopped_early: None,
            partial: false,
            status: LoadStatus::Complete,
            setup_error: None,
            users: UsersSummary {
                planned: 10,
                max_active: 10,
                personas: BTreeMap::from([("chatter".to_owned(), 10)]),
                chats: 4,
                iterations: None,
            },
            requests: RequestsSummary {
                total: n,
                errors: n / 7,
                refused_expected: 0,
                refused_unexpected: 0,
                per_second: 1.0,
                latency: h.clone(),
                per_endpoint: BTreeMap::from([("get_messages".to_owned(), endpoint)]),
            },
            delivery: DeliveryReport {
                counts,
                latency: h.clone(),
                catchup: hist(&samples.iter().map(|v| v + 7).collect::<Vec<_>>()).summary(),
            },
            poll_lateness: h,
            timeline: (0..3)
                .map(|t| Tick {
                    t,
                    requests: 10,
                    errors: 1,
                    users: 10,
                })
                .collect(),
            goose: None,
            slo: Vec::new(),
            shard: Some(ShardInfo {
                index,
                count,
                scenario_hash: "00ff".into(),
                first_user: index * 10,
                users: 10,
                first_cell: index,
                cells: 1,
                chats: 4,
                start_at: None,
                origin_unix_ms: origin_ms,
                late_ms: None,
                late: false,
            }),
            merged: None,
        };
        ShardResult {
            dir: PathBuf::from(format!("shard-{index}")),
            summary,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random samples split over random shards: the merged histograms are
        /// exactly the one histogram of all samples, and counts add up.
        #[test]
        fn merged_percentiles_equal_one_histogram_of_everything(
            samples in proptest::collection::vec((1u64..3_600_000_000, 0u32..1000), 0..600),
            count in 1u32..9,
            ns in proptest::collection::vec(0u64..1_000_000, 9),
        ) {
            let mut parts = vec![Vec::new(); count as usize];
            for &(v, pick) in &samples {
                parts[(pick % count) as usize].push(v);
            }
            let shards: Vec<ShardResult> = parts
                .iter()
                .enumerate()
                .rev() // order given does not matter
                .map(|(i, p)| shard(i as u32, count, p, ns[i], 1_000 * i as i64))
                .collect();
            let merged = merge(&check(shards).unwrap()).unwrap();
            let all = hist(&samples.iter().map(|s| s.0).collect::<Vec<_>>()).summary();
            prop_assert_eq!(&merged.requests.latency, &all);
            prop_assert_eq!(&merged.delivery.latency, &all);
            let catchup = hist(&samples.iter().map(|s| s.0 + 7).collect::<Vec<_>>()).summary();
            prop_assert_eq!(&merged.delivery.catchup, &catchup);
            prop_assert_eq!(&merged.poll_lateness, &all);
            prop_assert_eq!(&merged.requests.per_endpoint["get_messages"].latency, &all);
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(merged.requests.latency.quantile_us(q), all.quantile_us(q));
            }
            let sum: u64 = ns[..count as usize].iter().sum();
            prop_assert_eq!(merged.requests.total, sum);
            prop_assert_eq!(merged.requests.per_endpoint["get_messages"].statuses[&200], sum);
            prop_assert_eq!(merged.delivery.counts.sent, sum);
            prop_assert_eq!(
                merged.delivery.counts.lost,
                ns[..count as usize].iter().map(|n| n % 3).sum::<u64>()
            );
            prop_assert_eq!(merged.requests.errors, ns[..count as usize].iter().map(|n| n / 7).sum::<u64>());
            prop_assert_eq!(merged.users.planned, 10 * count);
            let ticks: u32 = merged.timeline.iter().map(|t| t.requests).sum();
            prop_assert_eq!(ticks, 30 * count);
            prop_assert_eq!(merged.merged.unwrap().shards.len(), count as usize);
        }
    }

    #[test]
    fn timelines_align_by_wall_clock_second() {
        let a = shard(0, 2, &[5], 1, 10_000);
        let b = shard(1, 2, &[5], 1, 12_100); // 2.1 s later: two slots on
        let m = merge(&check(vec![a, b]).unwrap()).unwrap();
        let reqs: Vec<u32> = m.timeline.iter().map(|t| t.requests).collect();
        assert_eq!(reqs, [10, 10, 20, 10, 10]);
        assert_eq!(m.elapsed_s, 5.0);
        let rows = &m.merged.as_ref().unwrap().shards;
        assert_eq!((rows[0].offset_s, rows[1].offset_s), (0, 2));
    }

    #[test]
    fn refuses_shards_that_do_not_belong_together() {
        let ok = |i| shard(i, 3, &[1, 2], 4, 0);
        let err = |v: Vec<ShardResult>| check(v).unwrap_err().to_string();

        assert!(err(vec![ok(0), ok(2)]).contains("missing shard(s) 1 of 3"));
        assert!(err(vec![ok(0), ok(1), ok(1), ok(2)]).contains("shard 1 appears twice"));
        let mut other = ok(1);
        other.summary.shard.as_mut().unwrap().scenario_hash = "beef".into();
        assert!(err(vec![ok(0), other, ok(2)]).contains("different scenarios"));
        let mut renamed = ok(1);
        renamed.summary.scenario = "t".into();
        assert!(err(vec![ok(0), renamed, ok(2)]).contains("different scenarios"));
        let mut split = ok(1);
        split.summary.shard.as_mut().unwrap().count = 4;
        assert!(err(vec![ok(0), split, ok(2)]).contains("different splits"));
        let mut old = ok(1);
        old.summary.schema_version = SCHEMA_VERSION + 1;
        assert!(err(vec![ok(0), old, ok(2)]).contains("schema version"));
        assert!(matches!(check(Vec::new()), Err(MergeError::Empty)));
    }

    #[test]
    fn reads_check_schema_version_and_shard_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, s: &LoadSummary| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("summary.json"), s.to_json()).unwrap();
            d
        };
        let good = shard(0, 1, &[3], 1, 0).summary;
        assert!(read(&write("good", &good)).is_ok());
        let mut whole = good.clone();
        whole.shard = None;
        let e = read(&write("whole", &whole)).unwrap_err().to_string();
        assert!(e.contains("not a shard"), "{e}");
        let d = dir.path().join("future");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("summary.json"),
            r#"{"schema_version": 99, "shape": "new"}"#,
        )
        .unwrap();
        let e = read(&d).unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
        let e = read(&dir.path().join("absent")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    /// A shard that could not start leaves a summary (status setup_failed):
    /// merging it would pass off the other shards as the whole run.
    #[test]
    fn a_shard_that_could_not_start_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shard(0, 2, &[1000], 1, 0).summary;
        s.status = LoadStatus::SetupFailed;
        s.setup_error = Some("target unreachable".into());
        std::fs::write(dir.path().join("summary.json"), s.to_json()).unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("could not start (target unreachable)"),
            "{err}"
        );
    }

    #[test]
    fn shard_lines_of_the_reports() {
        let mut a = shard(0, 2, &[1_000, 2_000], 5, 10_000);
        a.summary.shard.as_mut().unwrap().start_at = Some("2026-01-01T00:00:00.000Z".into());
        a.summary.shard.as_mut().unwrap().late_ms = Some(12);
        let mut b = shard(1, 2, &[300_000], 3, 12_400);
        b.summary.shard.as_mut().unwrap().late_ms = Some(2_412);
        b.summary.shard.as_mut().unwrap().late = true;
        let one = super::super::report::markdown(&a.summary);
        let m = merge(&check(vec![a, b]).unwrap()).unwrap();
        insta::assert_snapshot!("shard_markdown", one);
        insta::assert_snapshot!("merged_markdown", super::super::report::markdown(&m));
        insta::assert_json_snapshot!("merged_json", m.merged);
        let html = super::super::report::html(&m);
        assert!(html.contains("shards/1/summary.html") && html.contains("2.4 s late"));
    }

    #[test]
    fn a_corrupt_histogram_is_refused_not_skipped() {
        let mut bad = shard(0, 1, &[3], 1, 0);
        bad.summary.poll_lateness.hdr = "not base64!".into();
        let e = merge(&[bad]).unwrap_err().to_string();
        assert!(e.contains("poll lateness"), "{e}");
    }
}
