//! The JSON Schemas shipped beside the report models: `report.json`
//! (`check`), `summary.json` (`load`, a shard, `merge`), `limits.json` and
//! `capacity.json`. [`assert_valid`] is the one validation every test that
//! writes one of those files calls on the real file; the tests here prove
//! each schema is a schema, follows the house rules (closed objects, every
//! property described) and rejects what it must, since a schema that
//! accepts everything would let any drift through.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use chat_harness::capacity::report::{CapacityReport, Knee, StepReport};
use chat_harness::capacity::{model_report, CapacityConfig};
use chat_harness::contract::{Endpoint, LimitsTable};
use chat_harness::limits::probe::Concurrent;
use chat_harness::limits::report::{
    Atomicity, EndpointReport, Finding, LimitsReport, RefusalReport, Status,
};
use chat_harness::limits::window::{classify, Phases};
use chat_harness::load::delivery::{DeliveryCounts, DeliveryReport};
use chat_harness::load::dist::{MergedInfo, ShardInfo, ShardRow};
use chat_harness::load::hist::Hist;
use chat_harness::load::scenario::Scenario;
use chat_harness::load::slo::Slo;
use chat_harness::load::stats::{EndpointSummary, Tick};
use chat_harness::load::summary::{LoadSummary, RequestsSummary, UsersSummary};
use chat_harness::load::GooseOutcome;

const REPORT: &str = chat_harness::report::json::SCHEMA;
const SUMMARY: &str = chat_harness::load::summary::SCHEMA;
const LIMITS: &str = chat_harness::limits::report::SCHEMA;
const CAPACITY: &str = chat_harness::capacity::report::SCHEMA;

/// Asserts that `json` is valid against `schema` (one of the `SCHEMA`
/// constants), listing every violation with where it is; `what` names the
/// document in the message.
pub fn assert_valid(schema: &str, json: &Value, what: &str) {
    let errors = violations(schema, json);
    assert!(errors.is_empty(), "{what} breaks its schema: {errors:#?}");
}

/// Reads the JSON file at `path`, asserts it is valid against `schema`, and
/// returns it.
pub fn assert_file_valid(schema: &str, path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert_valid(schema, &json, &path.display().to_string());
    json
}

fn violations(schema: &str, json: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(schema).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

pub fn assert_rejected(schema: &str, json: &Value, why: &str) {
    assert!(
        !violations(schema, json).is_empty(),
        "accepted although {why}"
    );
}

/// The shipped `.schema.json` files are generated from the model types
/// (`chat_harness::report::schema::generate`): a model changed without its
/// schema fails here. After changing a model, rewrite the files with
/// `UPDATE_SCHEMAS=1 cargo test --test it -- schema::every_schema_file` and
/// review their diff.
#[test]
fn every_schema_file_is_generated_from_its_model() {
    use chat_harness::report::schema::generate;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, generated) in [
        (
            "src/report/report.schema.json",
            generate::<chat_harness::report::Report>(),
        ),
        ("src/load/summary.schema.json", generate::<LoadSummary>()),
        ("src/limits/limits.schema.json", generate::<LimitsReport>()),
        (
            "src/capacity/capacity.schema.json",
            generate::<CapacityReport>(),
        ),
    ] {
        let file = root.join(path);
        let shipped = std::fs::read_to_string(&file).unwrap_or_default();
        if shipped == generated {
            continue;
        }
        if update {
            std::fs::write(&file, &generated).unwrap_or_else(|e| panic!("{path}: {e}"));
        } else {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the schemas generated from their models: \
         run `UPDATE_SCHEMAS=1 cargo test --test it -- schema::every_schema_file` and review the diff"
    );
}

#[test]
fn every_schema_is_a_draft_2020_12_schema() {
    for (name, text) in [
        ("report", REPORT),
        ("summary", SUMMARY),
        ("limits", LIMITS),
        ("capacity", CAPACITY),
    ] {
        let schema: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not a valid draft 2020-12 schema: {e}");
        }
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Walks every subschema: an object schema that lists properties is closed
/// (`additionalProperties: false`), requires only properties it lists, and
/// (`described`) says what each property is.
fn house_rules(at: &str, node: &Value, described: bool, problems: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                    problems.push(format!("{at}: additionalProperties is not false"));
                }
                for r in map
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let r = r.as_str().unwrap_or_default();
                    if !props.contains_key(r) {
                        problems.push(format!("{at}: requires {r}, which it does not list"));
                    }
                }
                for (name, prop) in props {
                    if described && prop.get("description").is_none() {
                        problems.push(format!("{at}/properties/{name}: no description"));
                    }
                }
            }
            // An `if` is a condition on a document, not a definition of one.
            for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "if") {
                house_rules(&format!("{at}/{k}"), v, described, problems);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                house_rules(&format!("{at}/{i}"), v, described, problems);
            }
        }
        _ => {}
    }
}

#[test]
fn every_object_is_closed_and_every_property_described() {
    // Generated from the models' doc comments, every schema now describes
    // every property (report.schema.json was exempt while hand-written).
    for (name, text, described) in [
        ("report", REPORT, true),
        ("summary", SUMMARY, true),
        ("limits", LIMITS, true),
        ("capacity", CAPACITY, true),
    ] {
        let schema: Value = serde_json::from_str(text).unwrap();
        let mut problems = Vec::new();
        house_rules("#", &schema, described, &mut problems);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

fn hist(samples: &[u64]) -> chat_harness::load::hist::HistSummary {
    let mut h = Hist::new();
    samples.iter().for_each(|&us| h.record_us(us));
    h.summary()
}

fn smoke() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")).unwrap()
}

/// A whole run's summary built from the model types, every optional part
/// that a run writes filled in.
fn summary() -> LoadSummary {
    let latency = hist(&[800, 1200, 45_000]);
    let mut s = LoadSummary {
        schema_version: chat_harness::load::summary::SCHEMA_VERSION,
        tool: "chat-harness 0.1.0".into(),
        scenario: "smoke".into(),
        scenario_resolved: serde_json::to_value(smoke()).unwrap(),
        target: "embedded".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        elapsed_s: 5.0,
        stopped_early: None,
        partial: false,
        status: chat_harness::load::summary::LoadStatus::Complete,
        setup_error: None,
        users: UsersSummary {
            planned: 12,
            max_active: 12,
            personas: BTreeMap::from([("chatter".into(), 6), ("reader".into(), 1)]),
            chats: 9,
            iterations: Some(chat_harness::load::summary::IterationsSummary {
                per_user: 5,
                finished: 11,
                unfinished: 1,
            }),
        },
        requests: RequestsSummary {
            total: 3,
            errors: 0,
            refused_expected: 0,
            refused_unexpected: 0,
            per_second: 0.6,
            latency: latency.clone(),
            per_endpoint: BTreeMap::from([(
                "get_messages".into(),
                EndpointSummary {
                    requests: 3,
                    ok: 3,
                    refused_expected: 0,
                    refused_unexpected: 0,
                    failed: 0,
                    transport_errors: 0,
                    statuses: BTreeMap::from([(200, 3)]),
                    latency,
                },
            )]),
        },
        delivery: DeliveryReport {
            counts: DeliveryCounts {
                sent: 1,
                expected: 1,
                delivered: 1,
                ..DeliveryCounts::default()
            },
            latency: hist(&[250_000]),
            catchup: hist(&[40_000]),
        },
        poll_lateness: hist(&[]),
        timeline: vec![Tick {
            t: 0,
            requests: 3,
            errors: 0,
            users: 12,
        }],
        goose: Some(GooseOutcome::default()),
        slo: Vec::new(),
        shard: None,
        merged: None,
    };
    s.slo = ["lost=0", "get_chats.p99<1s"]
        .iter()
        .map(|t| Slo::parse(t).unwrap().judge(&s))
        .collect();
    s
}

fn limits() -> LimitsReport {
    let phases = Phases {
        first: 5,
        first_sent: 5,
        second: 5,
        third: 5,
        third_capped: false,
        fourth: None,
        rose_between: Some((4, 9)),
    };
    LimitsReport {
        schema_version: chat_harness::limits::report::SCHEMA_VERSION,
        tool: "chat-harness 0.1.0".into(),
        target: "http://127.0.0.1:1".into(),
        embedded: true,
        window_seconds: 3,
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_seconds: 4.2,
        interrupted: false,
        holds: false,
        accounts: 2,
        tokens: Finding::ok("every pair the tool held kept working"),
        endpoints: vec![EndpointReport {
            endpoint: Endpoint::Login,
            keyed_by: "client address".into(),
            expected: 10,
            observed: Some(10),
            header_limit: None,
            limit: Finding::ok("10 accepted"),
            remaining: Finding::ok("fell by one"),
            reset_form: "mixed (delta, missing)".into(),
            reset: Finding::fail("X-RateLimit-Reset is missing"),
            refusal: RefusalReport {
                status: Some(429),
                retry_after: Some(3),
                remaining_zero: true,
                values_in: Some(chat_harness::contract::refusal::ValuesIn::Headers),
                form: Some("HTTP 429".into()),
                had_effect: None,
                curl: Some("curl ...".into()),
                finding: Finding::ok("429"),
            },
            window: Some(classify(phases)),
            window_finding: Finding::new(Status::Warn, "fixed"),
            isolation: Finding::ok("another address keeps its quota"),
            forwarded_for: Some(Finding::skip("not loopback")),
            atomicity: Atomicity {
                run: Some(Concurrent {
                    sent: 12,
                    accepted: 10,
                    refused: 2,
                    errors: 0,
                    first_error: None,
                }),
                finding: Finding::ok("exactly 10 of 12"),
            },
            verdict: "fails".into(),
        }],
    }
}

fn capacity() -> CapacityReport {
    let cfg = CapacityConfig {
        scenario: smoke(),
        slos: vec![Slo::parse("lost=0").unwrap()],
        steps: vec![4, 8],
        ramp: Duration::from_secs(1),
        hold: Duration::from_secs(2),
        budget: Duration::from_secs(60),
        target: None,
        accounts: Vec::new(),
        timeout: Duration::from_secs(5),
        report_dir: "reports/capacity".into(),
        progress: false,
        unlimited: false,
    };
    let mut r = CapacityReport::new(&cfg, model_report(&cfg.scenario, &LimitsTable::default()));
    let step = StepReport::from_summary(
        4,
        &summary(),
        Path::new("reports/capacity/step-000004"),
        1.5,
        cfg.ramp,
        cfg.hold,
    );
    r.knee = Some(Knee {
        users: 4,
        requests_per_second: step.requests_per_second,
        delivery_p99_ms: step.delivery_p99_ms,
        latency_p99_ms: step.latency_p99_ms,
    });
    r.steps.push(step);
    r.stopped_because = "every step held".into();
    r
}

fn samples() -> [(&'static str, &'static str, Value); 3] {
    [
        ("summary", SUMMARY, serde_json::to_value(summary()).unwrap()),
        ("limits", LIMITS, serde_json::to_value(limits()).unwrap()),
        (
            "capacity",
            CAPACITY,
            serde_json::to_value(capacity()).unwrap(),
        ),
    ]
}

#[test]
fn the_models_serialise_to_valid_documents() {
    for (name, schema, json) in samples() {
        assert_valid(schema, &json, name);
    }
    // A progress summary, written before goose has reported.
    let mut partial = summary();
    partial.partial = true;
    partial.status = chat_harness::load::summary::LoadStatus::Partial;
    partial.goose = None;
    partial.stopped_early = Some("interrupted".into());
    assert_valid(
        SUMMARY,
        &serde_json::to_value(partial).unwrap(),
        "a partial summary",
    );
    // A shard's summary and a merge's, each with its optional object.
    let info = ShardInfo {
        index: 1,
        count: 2,
        scenario_hash: "0123456789abcdef".into(),
        first_user: 4,
        users: 8,
        first_cell: 1,
        cells: 2,
        chats: 6,
        start_at: Some("2026-01-01T00:00:00Z".into()),
        origin_unix_ms: 1_767_225_600_250,
        late_ms: Some(250),
        late: false,
    };
    let whole = summary();
    let mut shard = whole.clone();
    shard.shard = Some(info.clone());
    assert_valid(
        SUMMARY,
        &serde_json::to_value(&shard).unwrap(),
        "a shard's summary",
    );
    let mut merged = whole.clone();
    merged.merged = Some(MergedInfo {
        scenario_hash: info.scenario_hash.clone(),
        shards: vec![ShardRow {
            shard: info,
            source: "results/shard-1".into(),
            target: whole.target.clone(),
            started_at: whole.started_at.clone(),
            offset_s: 0,
            elapsed_s: whole.elapsed_s,
            stopped_early: Some("interrupted".into()),
            partial: true,
            max_active: 8,
            requests: 3,
            errors: 0,
            latency_p99_us: 45_000,
            delivery: whole.delivery.counts.clone(),
            delivery_p99_us: 250_000,
            poll_lateness_p99_us: 0,
        }],
        goose_p99: "exact".into(),
    });
    let mut both = serde_json::to_value(&merged).unwrap();
    assert_valid(SUMMARY, &both, "a merged summary");
    both["shard"] = serde_json::to_value(shard.shard).unwrap();
    assert_rejected(SUMMARY, &both, "a summary is both a shard and a merge");
}

/// Removes the member at `pointer` (`/a/0/b`) from `json`.
fn without(json: &Value, pointer: &str) -> Value {
    let mut out = json.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let removed = out
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(key));
    assert!(removed.is_some(), "nothing at {pointer}");
    out
}

#[test]
fn a_missing_required_field_is_rejected() {
    for (name, schema, json) in samples() {
        // Every top-level field is always written (summary: but shard and merged).
        let top: Value = serde_json::from_str(schema).unwrap();
        for field in top["required"].as_array().unwrap() {
            let field = field.as_str().unwrap();
            assert_rejected(
                schema,
                &without(&json, &format!("/{field}")),
                &format!("{name} has no {field}"),
            );
        }
    }
    let nested = [
        (SUMMARY, "summary", "/requests/latency/hdr"),
        (
            SUMMARY,
            "summary",
            "/requests/per_endpoint/get_messages/statuses",
        ),
        (SUMMARY, "summary", "/delivery/lost"),
        (SUMMARY, "summary", "/timeline/0/users"),
        (SUMMARY, "summary", "/slo/0/measured"),
        (SUMMARY, "summary", "/goose/error"),
        (
            SUMMARY,
            "summary",
            "/scenario_resolved/personas/0/persona/send_every",
        ),
        (LIMITS, "limits", "/endpoints/0/verdict"),
        (LIMITS, "limits", "/endpoints/0/refusal/had_effect"),
        (LIMITS, "limits", "/endpoints/0/window/phases/rose_between"),
        (LIMITS, "limits", "/endpoints/0/atomicity/run/first_error"),
        (LIMITS, "limits", "/endpoints/0/forwarded_for/detail"),
        (CAPACITY, "capacity", "/steps/0/stopped_early"),
        (CAPACITY, "capacity", "/knee/delivery_p99_ms"),
        (CAPACITY, "capacity", "/model/personas/0/headroom/limit"),
    ];
    let samples: BTreeMap<&str, Value> = samples().into_iter().map(|(n, _, j)| (n, j)).collect();
    for (schema, name, pointer) in nested {
        assert_rejected(
            schema,
            &without(&samples[name], pointer),
            &format!("{name} has nothing at {pointer}"),
        );
    }
}

#[test]
fn unknown_fields_and_values_are_rejected() {
    let samples: BTreeMap<&str, Value> = samples().into_iter().map(|(n, _, j)| (n, j)).collect();
    let changes: [(&str, &str, &str, Value); 10] = [
        (SUMMARY, "summary", "", json!({"surprise": 1})),
        (SUMMARY, "summary", "/delivery", json!({"surprise": 1})),
        (SUMMARY, "summary", "/users/personas", json!({"ghost": 1})),
        (
            SUMMARY,
            "summary",
            "/requests/per_endpoint",
            json!({"get_everything": {}}),
        ),
        (
            SUMMARY,
            "summary",
            "/requests/latency",
            json!({"hdr": "not base64!"}),
        ),
        (LIMITS, "limits", "", json!({"surprise": 1})),
        (
            LIMITS,
            "limits",
            "/endpoints/0/limit",
            json!({"status": "maybe"}),
        ),
        (
            LIMITS,
            "limits",
            "/endpoints/0/window",
            json!({"kind": "leaky_bucket"}),
        ),
        (CAPACITY, "capacity", "/steps/0", json!({"surprise": 1})),
        (
            CAPACITY,
            "capacity",
            "/model/personas/0",
            json!({"kind": "lurker"}),
        ),
    ];
    for (schema, name, pointer, patch) in changes {
        let mut json = samples[name].clone();
        let target = json
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .unwrap();
        for (k, v) in patch.as_object().unwrap() {
            target.insert(k.clone(), v.clone());
        }
        assert_rejected(schema, &json, &format!("{name} at {pointer:?} got {patch}"));
    }
}
