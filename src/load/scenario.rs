//! Load scenarios as data (`scenarios/*.toml`): how many users, how fast they
//! start, how long the run lasts (a duration, or a number of iterations per
//! user bounded by a duration), how users map to chats, and the weighted mix
//! of personas with their parameters. Parsing resolves every default, so the
//! resolved form is exactly what runs (and what the snapshot test pins). A
//! malformed file is refused with `file:line: field: what is wrong`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::contract::Endpoint;

/// A validated scenario: every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Simulated users at full load.
    pub users: u32,
    /// How users start (goose's hatch rate or a test plan).
    pub ramp: Ramp,
    /// Time at full load after the ramp (messages are sent during ramp and
    /// this). With `iterations`, the upper bound of that time instead: users
    /// that have not finished by then stop, and the summary says how many.
    #[serde(with = "ms")]
    pub duration: Duration,
    /// Iterations of its persona each user performs before it stops sending
    /// (see `Persona::iteration`); the run then ends when every user is done,
    /// after the grace period. None: the run lasts `duration`.
    pub iterations: Option<u32>,
    /// Polling only, no new messages: lets every poller catch up before loss is judged.
    #[serde(with = "ms")]
    pub grace: Duration,
    /// Seeds every user's random choices (same seed, same run shape).
    pub seed: u64,
    pub topology: Topology,
    pub personas: Vec<PersonaSpec>,
}

/// How users are started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ramp {
    /// Start users at this rate until all run.
    Rate { users_per_second: f64 },
    /// A test plan: reach `users` over `over`, then hold for `hold`.
    Steps { steps: Vec<Step> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub users: u32,
    #[serde(with = "ms")]
    pub over: Duration,
    #[serde(with = "ms")]
    pub hold: Duration,
}

/// Users are cut into consecutive cells of `cell_size`; each cell has its own
/// Direct chats (pairs of neighbours) and Group chats (the whole cell). Chats
/// never cross cells, so a shard of whole cells keeps every chat's
/// participants in one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub cell_size: u32,
    /// Direct chats per cell, between users (0,1), (2,3), ... then (1,2), ...
    pub direct_per_cell: u32,
    /// Group chats per cell, each with every user of the cell.
    pub groups_per_cell: u32,
}

/// One persona of the mix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaSpec {
    /// Relative share of users.
    pub weight: u32,
    pub persona: Persona,
}

/// What a simulated user does.
///
/// With `iterations = N` each user performs N iterations of its persona,
/// as defined on each variant, and is then done: it sends and probes no
/// more, and a user that polls keeps polling every one of its chats (as in
/// the grace period) until the run ends, so that messages sent to it are
/// still seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Persona {
    /// Polls the chat on screen with the design's model. One iteration: one
    /// get_messages (a poll, whatever its answer).
    PollerDesign(DesignParams),
    /// Polls like the reference mobile client. One iteration: one
    /// get_messages (a poll, whatever its answer).
    PollerMobile(MobileParams),
    /// Sends to the chat on screen and polls it. One iteration: one
    /// send_message (whatever its answer); its polls are not counted.
    Chatter(ChatterParams),
    /// Bursts past an endpoint's limit. One iteration: one burst.
    LimitProber(ProberParams),
    /// get_chats, get_chat_participants, mark_as_read. One iteration: one
    /// such round.
    Reader(ReaderParams),
}

impl Persona {
    pub fn kind(&self) -> &'static str {
        match self {
            Persona::PollerDesign(_) => "poller-design",
            Persona::PollerMobile(_) => "poller-mobile",
            Persona::Chatter(_) => "chatter",
            Persona::LimitProber(_) => "limit-prober",
            Persona::Reader(_) => "reader",
        }
    }

    /// Whether users of this persona poll their chats (and so are expected
    /// to receive every message sent to them).
    pub fn polls(&self) -> bool {
        matches!(
            self,
            Persona::PollerDesign(_) | Persona::PollerMobile(_) | Persona::Chatter(_)
        )
    }
}

/// The design's adaptive polling (ARCHITECTURE.md, "Message Delivery").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignParams {
    #[serde(with = "ms")]
    pub active_interval: Duration,
    #[serde(with = "ms")]
    pub idle_interval: Duration,
    #[serde(with = "ms")]
    pub idle_after: Duration,
    /// Mean time a chat screen stays open (exponential); zero: always open.
    #[serde(with = "ms")]
    pub screen_open: Duration,
    /// Mean time a chat screen stays closed (no polling).
    #[serde(with = "ms")]
    pub screen_closed: Duration,
}

impl Default for DesignParams {
    fn default() -> Self {
        DesignParams {
            active_interval: Duration::from_millis(500),
            idle_interval: Duration::from_millis(3000),
            idle_after: Duration::from_secs(10),
            screen_open: Duration::ZERO,
            screen_closed: Duration::ZERO,
        }
    }
}

/// The reference mobile client (CONTRACT.md, "How clients poll").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MobileParams {
    #[serde(with = "ms")]
    pub min_interval: Duration,
    #[serde(with = "ms")]
    pub max_interval: Duration,
    pub backoff: f64,
    #[serde(with = "ms")]
    pub error_interval: Duration,
    /// `limit` of the first get_messages on opening a chat (no `after`).
    pub initial_limit: u32,
}

impl Default for MobileParams {
    fn default() -> Self {
        MobileParams {
            min_interval: Duration::from_millis(500),
            max_interval: Duration::from_millis(3000),
            backoff: 1.2,
            error_interval: Duration::from_millis(2000),
            initial_limit: 50,
        }
    }
}

/// Which polling model a chatter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Design,
    Mobile,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatterParams {
    pub model: Model,
    /// Mean time between two messages of one user (exponential).
    #[serde(with = "ms")]
    pub send_every: Duration,
    /// Length of a message's content (the unique id included).
    pub content_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProberParams {
    /// The endpoint driven past its limit.
    pub endpoint: Endpoint,
    /// Requests per burst, sent back to back.
    pub burst: u32,
    /// Time between the starts of two bursts.
    #[serde(with = "ms")]
    pub every: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaderParams {
    /// Time between two rounds of get_chats, get_chat_participants, mark_as_read.
    #[serde(with = "ms")]
    pub every: Duration,
}

/// The upper bound of an `iterations` run whose file gives no `duration`:
/// every run stays bounded in time.
pub const DEFAULT_ITERATIONS_CAP: Duration = Duration::from_secs(600);

/// A scenario file that cannot be used (file, line and field).
pub type ScenarioError = crate::input::InputError;

mod ms {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<S<String>>,
    description: Option<String>,
    users: Option<S<i64>>,
    duration: Option<S<String>>,
    iterations: Option<S<i64>>,
    grace: Option<S<String>>,
    seed: Option<S<i64>>,
    ramp: Option<RawRamp>,
    topology: Option<RawTopology>,
    #[serde(default)]
    persona: Vec<S<RawPersona>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRamp {
    users_per_second: Option<S<f64>>,
    steps: Option<Vec<S<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    users: S<i64>,
    over: Option<S<String>>,
    hold: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    cell_size: Option<S<i64>>,
    direct_per_cell: Option<S<i64>>,
    groups_per_cell: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersona {
    kind: S<String>,
    weight: Option<S<i64>>,
    // poller-design
    active_interval: Option<S<String>>,
    idle_interval: Option<S<String>>,
    idle_after: Option<S<String>>,
    screen_open: Option<S<String>>,
    screen_closed: Option<S<String>>,
    // poller-mobile
    min_interval: Option<S<String>>,
    max_interval: Option<S<String>>,
    backoff: Option<S<f64>>,
    error_interval: Option<S<String>>,
    initial_limit: Option<S<i64>>,
    // chatter
    model: Option<S<String>>,
    send_every: Option<S<String>>,
    content_bytes: Option<S<i64>>,
    // limit-prober
    endpoint: Option<S<String>>,
    burst: Option<S<i64>>,
    // limit-prober, reader
    every: Option<S<String>>,
}

/// Where errors point.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, field: &str, message: impl std::fmt::Display) -> ScenarioError {
        let message = if field.is_empty() {
            message.to_string()
        } else {
            format!("{field}: {message}")
        };
        ScenarioError::at(self.text, self.file, offset, message)
    }

    fn duration(&self, v: &S<String>, field: &str) -> Result<Duration, ScenarioError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.err(
                v.span().start,
                field,
                format!(
                    "{:?} is not a duration (try \"500ms\", \"10s\", \"2m\")",
                    v.get_ref()
                ),
            )
        })
    }

    fn opt_duration(
        &self,
        v: &Option<S<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        v.as_ref().map_or(Ok(default), |v| self.duration(v, field))
    }

    fn int(&self, v: &S<i64>, field: &str, lo: i64, hi: i64) -> Result<u32, ScenarioError> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Ok(n as u32)
        } else {
            Err(self.err(
                v.span().start,
                field,
                format!("must be between {lo} and {hi}, got {n}"),
            ))
        }
    }

    fn opt_int(
        &self,
        v: &Option<S<i64>>,
        field: &str,
        lo: i64,
        hi: i64,
        default: u32,
    ) -> Result<u32, ScenarioError> {
        v.as_ref()
            .map_or(Ok(default), |v| self.int(v, field, lo, hi))
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = crate::input::read(path, "scenario")?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a scenario; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { text, file };
        let raw: Raw = crate::input::from_toml(text, file)?;
        let name = match &raw.name {
            Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_owned(),
            Some(n) => return Err(cx.err(n.span().start, "name", "must not be empty")),
            None => Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into()),
        };
        let iterations = raw
            .iterations
            .as_ref()
            .map(|n| cx.int(n, "iterations", 1, 1_000_000))
            .transpose()?;
        let duration = match (&raw.duration, iterations) {
            (Some(d), _) => cx.duration(d, "duration")?,
            (None, Some(_)) => DEFAULT_ITERATIONS_CAP,
            (None, None) => {
                return Err(cx.err(
                    0,
                    "duration",
                    "missing: give duration = \"60s\", or iterations = N (each user N iterations, duration then an upper bound)",
                ))
            }
        };
        let grace = cx.opt_duration(&raw.grace, "grace", Duration::from_secs(5))?;
        let seed = raw.seed.as_ref().map_or(1, |s| *s.get_ref() as u64);

        let (users, ramp) = resolve_ramp(&cx, &raw)?;

        let topo = raw.topology.as_ref();
        let cell_size = cx.opt_int(
            &topo.and_then(|t| t.cell_size.clone()),
            "topology.cell_size",
            2,
            64,
            4,
        )?;
        let direct_per_cell = cx.opt_int(
            &topo.and_then(|t| t.direct_per_cell.clone()),
            "topology.direct_per_cell",
            0,
            2016,
            cell_size / 2,
        )?;
        let groups_per_cell = cx.opt_int(
            &topo.and_then(|t| t.groups_per_cell.clone()),
            "topology.groups_per_cell",
            0,
            64,
            1,
        )?;
        let max_pairs = cell_size * (cell_size - 1) / 2;
        if direct_per_cell > max_pairs {
            let at = topo
                .and_then(|t| t.direct_per_cell.as_ref())
                .map_or(0, |s| s.span().start);
            return Err(cx.err(
                at,
                "topology.direct_per_cell",
                format!("a cell of {cell_size} users has only {max_pairs} distinct pairs"),
            ));
        }

        if raw.persona.is_empty() {
            return Err(cx.err(text.len(), "persona", "at least one [[persona]] is needed"));
        }
        let mut personas = Vec::new();
        for (i, p) in raw.persona.iter().enumerate() {
            personas.push(resolve_persona(&cx, i, p)?);
        }
        Ok(Scenario {
            name,
            description: raw.description.clone().unwrap_or_default(),
            users,
            ramp,
            duration,
            iterations,
            grace,
            seed,
            topology: Topology {
                cell_size,
                direct_per_cell,
                groups_per_cell,
            },
            personas,
        })
    }

    /// Time from the first user's start until the last poll.
    pub fn total_time(&self) -> Duration {
        self.ramp_time() + self.duration + self.grace
    }

    /// Expected time to start every user (a test plan: the sum of its steps but the last hold).
    pub fn ramp_time(&self) -> Duration {
        match &self.ramp {
            Ramp::Rate { users_per_second } => {
                Duration::from_secs_f64(self.users as f64 / users_per_second)
            }
            Ramp::Steps { steps } => steps.iter().map(|s| s.over + s.hold).sum::<Duration>(),
        }
    }

    /// The same scenario with another duration (`--duration`): the time at
    /// full load, or with `iterations` its upper bound.
    pub fn with_duration(mut self, d: Duration) -> Self {
        self.duration = d;
        self
    }
}

fn resolve_ramp(cx: &Ctx, raw: &Raw) -> Result<(u32, Ramp), ScenarioError> {
    let users = raw
        .users
        .as_ref()
        .map(|u| cx.int(u, "users", 1, 1_000_000))
        .transpose()?;
    let ramp = raw.ramp.as_ref();
    match ramp.and_then(|r| r.steps.as_ref()) {
        Some(steps) => {
            if let Some(r) = ramp.and_then(|r| r.users_per_second.as_ref()) {
                return Err(cx.err(
                    r.span().start,
                    "ramp.users_per_second",
                    "give either ramp.users_per_second or ramp.steps, not both",
                ));
            }
            if steps.is_empty() {
                return Err(cx.err(0, "ramp.steps", "needs at least one step"));
            }
            let mut out = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                let f = |k: &str| format!("ramp.steps[{i}].{k}");
                let st = s.get_ref();
                out.push(Step {
                    users: cx.int(&st.users, &f("users"), 0, 1_000_000)?,
                    over: cx.opt_duration(&st.over, &f("over"), Duration::ZERO)?,
                    hold: cx.duration(&st.hold, &f("hold"))?,
                });
            }
            let peak = out.iter().map(|s| s.users).max().unwrap_or(0);
            if peak == 0 {
                return Err(cx.err(steps[0].span().start, "ramp.steps", "no step has users"));
            }
            if let (Some(u), Some(raw_u)) = (users, raw.users.as_ref()) {
                if u != peak {
                    return Err(cx.err(
                        raw_u.span().start,
                        "users",
                        format!("is {u} but the largest ramp step has {peak} users (leave users out or make them agree)"),
                    ));
                }
            }
            Ok((peak, Ramp::Steps { steps: out }))
        }
        None => {
            let Some(users) = users else {
                return Err(cx.err(0, "users", "missing (e.g. users = 100)"));
            };
            let rate = match ramp.and_then(|r| r.users_per_second.as_ref()) {
                Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => *r.get_ref(),
                Some(r) => {
                    return Err(cx.err(
                        r.span().start,
                        "ramp.users_per_second",
                        format!("must be above 0, got {}", r.get_ref()),
                    ))
                }
                None => users as f64,
            };
            Ok((
                users,
                Ramp::Rate {
                    users_per_second: rate,
                },
            ))
        }
    }
}

fn resolve_persona(cx: &Ctx, i: usize, p: &S<RawPersona>) -> Result<PersonaSpec, ScenarioError> {
    let r = p.get_ref();
    let f = |k: &str| format!("persona[{i}].{k}");
    let weight = cx.opt_int(&r.weight, &f("weight"), 1, 1_000_000, 1)?;
    let kind = r.kind.get_ref().as_str();
    // Every parameter given must belong to the persona's kind.
    let allowed: &[&str] = match kind {
        "poller-design" => &[
            "active_interval",
            "idle_interval",
            "idle_after",
            "screen_open",
            "screen_closed",
        ],
        "poller-mobile" => &[
            "min_interval",
            "max_interval",
            "backoff",
            "error_interval",
            "initial_limit",
        ],
        "chatter" => &["model", "send_every", "content_bytes"],
        "limit-prober" => &["endpoint", "burst", "every"],
        "reader" => &["every"],
        other => {
            return Err(cx.err(
                r.kind.span().start,
                &f("kind"),
                format!("unknown persona {other:?} (expected poller-design, poller-mobile, chatter, limit-prober or reader)"),
            ))
        }
    };
    let given: [(&str, Option<usize>); 16] = [
        (
            "active_interval",
            r.active_interval.as_ref().map(|v| v.span().start),
        ),
        (
            "idle_interval",
            r.idle_interval.as_ref().map(|v| v.span().start),
        ),
        ("idle_after", r.idle_after.as_ref().map(|v| v.span().start)),
        (
            "screen_open",
            r.screen_open.as_ref().map(|v| v.span().start),
        ),
        (
            "screen_closed",
            r.screen_closed.as_ref().map(|v| v.span().start),
        ),
        (
            "min_interval",
            r.min_interval.as_ref().map(|v| v.span().start),
        ),
        (
            "max_interval",
            r.max_interval.as_ref().map(|v| v.span().start),
        ),
        ("backoff", r.backoff.as_ref().map(|v| v.span().start)),
        (
            "error_interval",
            r.error_interval.as_ref().map(|v| v.span().start),
        ),
        (
            "initial_limit",
            r.initial_limit.as_ref().map(|v| v.span().start),
        ),
        ("model", r.model.as_ref().map(|v| v.span().start)),
        ("send_every", r.send_every.as_ref().map(|v| v.span().start)),
        (
            "content_bytes",
            r.content_bytes.as_ref().map(|v| v.span().start),
        ),
        ("endpoint", r.endpoint.as_ref().map(|v| v.span().start)),
        ("burst", r.burst.as_ref().map(|v| v.span().start)),
        ("every", r.every.as_ref().map(|v| v.span().start)),
    ];
    for (name, at) in given {
        if let Some(at) = at {
            if !allowed.contains(&name) {
                return Err(cx.err(
                    at,
                    &f(name),
                    format!(
                        "not a parameter of {kind} (it takes: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    let persona = match kind {
        "poller-design" => {
            let d = DesignParams::default();
            let p = DesignParams {
                active_interval: cx.opt_duration(
                    &r.active_interval,
                    &f("active_interval"),
                    d.active_interval,
                )?,
                idle_interval: cx.opt_duration(
                    &r.idle_interval,
                    &f("idle_interval"),
                    d.idle_interval,
                )?,
                idle_after: cx.opt_duration(&r.idle_after, &f("idle_after"), d.idle_after)?,
                screen_open: cx.opt_duration(&r.screen_open, &f("screen_open"), d.screen_open)?,
                screen_closed: cx.opt_duration(
                    &r.screen_closed,
                    &f("screen_closed"),
                    d.screen_closed,
                )?,
            };
            for (v, name) in [
                (p.active_interval, "active_interval"),
                (p.idle_interval, "idle_interval"),
            ] {
                if v < Duration::from_millis(10) {
                    return Err(cx.err(p_span(r, name), &f(name), "must be at least 10ms"));
                }
            }
            if p.screen_open.is_zero() != p.screen_closed.is_zero() {
                let at = r
                    .screen_open
                    .as_ref()
                    .or(r.screen_closed.as_ref())
                    .map_or(0, |s| s.span().start);
                return Err(cx.err(
                    at,
                    &f("screen_open"),
                    "screen_open and screen_closed go together (both zero: the screen stays open)",
                ));
            }
            Persona::PollerDesign(p)
        }
        "poller-mobile" => {
            let d = MobileParams::default();
            let p = MobileParams {
                min_interval: cx.opt_duration(
                    &r.min_interval,
                    &f("min_interval"),
                    d.min_interval,
                )?,
                max_interval: cx.opt_duration(
                    &r.max_interval,
                    &f("max_interval"),
                    d.max_interval,
                )?,
                backoff: r.backoff.as_ref().map_or(d.backoff, |b| *b.get_ref()),
                error_interval: cx.opt_duration(
                    &r.error_interval,
                    &f("error_interval"),
                    d.error_interval,
                )?,
                initial_limit: cx.opt_int(
                    &r.initial_limit,
                    &f("initial_limit"),
                    1,
                    1000,
                    d.initial_limit,
                )?,
            };
            if p.min_interval < Duration::from_millis(10) || p.max_interval < p.min_interval {
                return Err(cx.err(
                    p_span(r, "max_interval"),
                    &f("max_interval"),
                    "needs 10ms <= min_interval <= max_interval",
                ));
            }
            if !(1.0..=10.0).contains(&p.backoff) {
                return Err(cx.err(
                    p_span(r, "backoff"),
                    &f("backoff"),
                    format!("must be between 1 and 10, got {}", p.backoff),
                ));
            }
            Persona::PollerMobile(p)
        }
        "chatter" => {
            let model = match r.model.as_ref() {
                None => Model::Design,
                Some(m) => match m.get_ref().as_str() {
                    "design" => Model::Design,
                    "mobile" => Model::Mobile,
                    other => {
                        return Err(cx.err(
                            m.span().start,
                            &f("model"),
                            format!("unknown model {other:?} (expected design or mobile)"),
                        ))
                    }
                },
            };
            let send_every =
                cx.opt_duration(&r.send_every, &f("send_every"), Duration::from_secs(10))?;
            if send_every < Duration::from_millis(10) {
                return Err(cx.err(
                    p_span(r, "send_every"),
                    &f("send_every"),
                    "must be at least 10ms",
                ));
            }
            Persona::Chatter(ChatterParams {
                model,
                send_every,
                content_bytes: cx.opt_int(&r.content_bytes, &f("content_bytes"), 48, 10_000, 64)?,
            })
        }
        "limit-prober" => {
            let endpoint = match r.endpoint.as_ref() {
                None => Endpoint::GetMessages,
                Some(e) => {
                    let ep: Endpoint = e
                        .get_ref()
                        .parse()
                        .map_err(|err| cx.err(e.span().start, &f("endpoint"), err))?;
                    if !matches!(
                        ep,
                        Endpoint::GetChats
                            | Endpoint::GetMessages
                            | Endpoint::SendMessage
                            | Endpoint::GetChatParticipants
                            | Endpoint::GetUsers
                            | Endpoint::MarkAsRead
                    ) {
                        return Err(cx.err(e.span().start, &f("endpoint"), format!("{ep} cannot be probed under load (a prober acts as its own user: get_chats, get_messages, send_message, get_chat_participants, get_users or mark_as_read)")));
                    }
                    ep
                }
            };
            let default_burst = endpoint.courtesy_limit().unwrap_or(100) + 20;
            Persona::LimitProber(ProberParams {
                endpoint,
                burst: cx.opt_int(&r.burst, &f("burst"), 1, 100_000, default_burst)?,
                every: cx.opt_duration(&r.every, &f("every"), Duration::from_secs(10))?,
            })
        }
        _ => Persona::Reader(ReaderParams {
            every: cx.opt_duration(&r.every, &f("every"), Duration::from_secs(5))?,
        }),
    };
    if let Persona::LimitProber(ProberParams { every, .. })
    | Persona::Reader(ReaderParams { every }) = &persona
    {
        if *every < Duration::from_millis(100) {
            return Err(cx.err(p_span(r, "every"), &f("every"), "must be at least 100ms"));
        }
    }
    Ok(PersonaSpec { weight, persona })
}

/// Where a persona parameter is, for semantic errors.
fn p_span(r: &RawPersona, name: &str) -> usize {
    let d = |v: &Option<S<String>>| v.as_ref().map(|v| v.span().start);
    match name {
        "active_interval" => d(&r.active_interval),
        "idle_interval" => d(&r.idle_interval),
        "max_interval" => d(&r.max_interval).or(d(&r.min_interval)),
        "backoff" => r.backoff.as_ref().map(|v| v.span().start),
        "send_every" => d(&r.send_every),
        "every" => d(&r.every),
        _ => None,
    }
    .unwrap_or(r.kind.span().start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: [(&str, &str); 5] = [
        ("smoke.toml", include_str!("../../scenarios/smoke.toml")),
        (
            "steady-chat.toml",
            include_str!("../../scenarios/steady-chat.toml"),
        ),
        (
            "mobile-fleet.toml",
            include_str!("../../scenarios/mobile-fleet.toml"),
        ),
        (
            "rate-limit-storm.toml",
            include_str!("../../scenarios/rate-limit-storm.toml"),
        ),
        (
            "capacity-ramp.toml",
            include_str!("../../scenarios/capacity-ramp.toml"),
        ),
    ];

    #[test]
    fn shipped_scenarios_resolve() {
        let resolved: Vec<Scenario> = SHIPPED
            .iter()
            .map(|(file, text)| Scenario::parse(text, file).unwrap())
            .collect();
        insta::assert_yaml_snapshot!(resolved);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let base = "users = 4\nduration = \"5s\"\n";
        let cases = [
            (format!("{base}[[persona]]\nkind = \"poller-desgin\"\n"), "x.toml:4:8: persona[0].kind: unknown persona"),
            (format!("{base}[[persona]]\nkind = \"reader\"\nbackoff = 1.5\n"), "x.toml:5:11: persona[0].backoff: not a parameter of reader"),
            (format!("{base}[[persona]]\nkind = \"chatter\"\nsend_every = \"often\"\n"), "x.toml:5:14: persona[0].send_every: \"often\" is not a duration"),
            (format!("{base}[[persona]]\nkind = \"chatter\"\nweight = 0\n"), "x.toml:5:10: persona[0].weight: must be between 1"),
            ("users = 4\nduration = \"5s\"\n[topology]\ncell_size = 3\ndirect_per_cell = 9\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:5:19: topology.direct_per_cell: a cell of 3 users"),
            (format!("{base}[[persona]]\nkind = \"limit-prober\"\nendpoint = \"login\"\n"), "x.toml:5:12: persona[0].endpoint: login cannot be probed"),
            (format!("{base}colour = \"red\"\n[[persona]]\nkind = \"chatter\"\n"), "x.toml:3:1: colour: unknown field `colour`"),
            ("users = -3\nduration = \"5s\"\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:1:9: users: must be between 1"),
            (format!("{base}[ramp]\nusers_per_second = 0.0\n[[persona]]\nkind = \"chatter\"\n"), "x.toml:4:20: ramp.users_per_second: must be above 0"),
            (base.to_string(), "x.toml:3:1: persona: at least one"),
            ("users = 4\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:1:1: duration: missing: give duration = \"60s\", or iterations = N"),
            ("users = 4\niterations = 0\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:2:14: iterations: must be between 1 and 1000000, got 0"),
            ("users = 4\niterations = \"5\"\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:2:14: iterations: invalid type: string \"5\", expected i64"),
            ("users = 4\niterations = 3\nduration = \"soon\"\n[[persona]]\nkind = \"chatter\"\n".to_string(), "x.toml:3:12: duration: \"soon\" is not a duration"),
            (format!("{base}[[persona]]\nkind = \"poller-mobile\"\nbackoff = 0.5\n"), "x.toml:5:11: persona[0].backoff: must be between 1 and 10"),
            (format!("{base}[[persona]]\nkind = \"chatter\"\nweight = \"twelve\"\n"), "x.toml:5:10: persona[0].weight: invalid type: string \"twelve\", expected i64"),
            (format!("{base}[[persona]]\nkind = \"chatter\"\n[[persona]]\nkind = \"reader\"\nevry = \"1s\"\n"), "x.toml:7:1: persona[1].evry: unknown field `evry`"),
        ];
        for (text, want) in cases {
            let err = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(
                err.starts_with(want),
                "{text:?}:\n got {err:?}\nwant {want:?}"
            );
        }
    }

    /// An iteration-count scenario: `duration` is the cap, 10 minutes when
    /// the file gives none, and `--duration` still overrides it.
    #[test]
    fn iterations_resolve_with_a_cap() {
        let text = "name = \"few\"\nusers = 4\niterations = 3\ngrace = \"1s\"\n[[persona]]\nkind = \"chatter\"\nsend_every = \"100ms\"\n[[persona]]\nkind = \"reader\"\n";
        let s = Scenario::parse(text, "few.toml").unwrap();
        assert_eq!(s.iterations, Some(3));
        assert_eq!(s.duration, DEFAULT_ITERATIONS_CAP);
        insta::assert_yaml_snapshot!(s);
        let capped = Scenario::parse(&format!("duration = \"20s\"\n{text}"), "few.toml").unwrap();
        assert_eq!(capped.duration, Duration::from_secs(20));
        assert_eq!(
            capped.with_duration(Duration::from_secs(7)).duration,
            Duration::from_secs(7)
        );
    }

    #[test]
    fn steps_define_users_and_ramp_time() {
        let s = Scenario::parse(
            "duration = \"0s\"\n[ramp]\nsteps = [{users = 10, over = \"2s\", hold = \"3s\"}, {users = 20, over = \"1s\", hold = \"4s\"}]\n[[persona]]\nkind = \"reader\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(s.users, 20);
        assert_eq!(s.ramp_time(), Duration::from_secs(10));
    }
}
