//! Load scenarios as data (`scenarios/*.toml`): how many users, how fast they
//! start, how long the run lasts (a duration, or a number of iterations per
//! user bounded by a duration), how users map to chats, and the weighted mix
//! of personas with their parameters. Parsing resolves every default, so the
//! resolved form is exactly what runs (and what the snapshot test pins). A
//! malformed file is refused with `file:line: field: what is wrong`.

use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::persona::kind::ms;
use super::persona::{self, Head, PersonaSpec};
use crate::input::Source;

/// A validated scenario: every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(description = "A scenario with every default filled in (durations in ms).")]
pub struct Scenario {
    /// The scenario's name.
    pub name: String,
    /// What it simulates, in words (empty if the file gives none).
    pub description: String,
    /// Simulated users at full load.
    #[schemars(range(min = 1))]
    pub users: u32,
    /// How users start (goose's hatch rate or a test plan).
    pub ramp: Ramp,
    /// Time at full load after the ramp, ms (messages are sent during ramp
    /// and this). With `iterations`, the upper bound of that time instead: users
    /// that have not finished by then stop, and the summary says how many.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub duration: Duration,
    /// Iterations of its persona each user performs before it stops sending
    /// (see `Persona::iteration`); the run then ends when every user is done,
    /// after the grace period. None: the run lasts `duration`.
    #[schemars(range(min = 1))]
    pub iterations: Option<u32>,
    /// Polling only, no new messages, after the duration, ms: lets every
    /// poller catch up before loss is judged.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub grace: Duration,
    /// Seeds every user's random choices (same seed, same run shape).
    pub seed: u64,
    /// Users are cut into cells; chats never cross cells.
    pub topology: Topology,
    /// The mix of personas.
    #[schemars(length(min = 1))]
    pub personas: Vec<PersonaSpec>,
}

/// How users are started.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ramp {
    /// Start users at this rate until all run.
    Rate {
        /// Users started per second.
        #[schemars(extend("exclusiveMinimum" = 0))]
        users_per_second: f64,
    },
    /// A test plan: reach `users` over `over`, then hold for `hold`.
    Steps {
        /// The steps, in order.
        #[schemars(length(min = 1))]
        steps: Vec<Step>,
    },
}

/// One step of a test plan.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Step {
    /// Users running at the end of this step.
    pub users: u32,
    /// Time to reach them, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub over: Duration,
    /// Time held at them, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub hold: Duration,
}

/// Users are cut into consecutive cells of `cell_size`; each cell has its own
/// Direct chats (pairs of neighbours) and Group chats (the whole cell). Chats
/// never cross cells, so a shard of whole cells keeps every chat's
/// participants in one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Topology {
    /// Users per cell.
    #[schemars(range(min = 1))]
    pub cell_size: u32,
    /// Direct chats per cell, between users (0,1), (2,3), ... then (1,2), ...
    pub direct_per_cell: u32,
    /// Group chats per cell, each with every user of the cell.
    pub groups_per_cell: u32,
}

/// The upper bound of an `iterations` run whose file gives no `duration`:
/// every run stays bounded in time.
pub const DEFAULT_ITERATIONS_CAP: Duration = Duration::from_secs(600);

/// A scenario file that cannot be used (file, line and field).
pub type ScenarioError = crate::input::InputError;

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
    persona: Vec<S<Head>>,
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

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = crate::input::read(path, "scenario")?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a scenario; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let cx = Source { text, file };
        let raw: Raw = crate::input::from_toml(text, file)?;
        let sections = persona::sections(&cx, &raw.persona)?;
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
        for (i, (p, read)) in raw.persona.iter().zip(sections).enumerate() {
            personas.push(persona::resolve(&cx, i, p.get_ref(), read)?);
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

fn resolve_ramp(cx: &Source, raw: &Raw) -> Result<(u32, Ramp), ScenarioError> {
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
