//! Shard I of N of a scenario: a deterministic, disjoint run of whole cells.
//!
//! Every shard computes the same plan of the whole scenario (`load/plan.rs`
//! is a pure function of it) and keeps a contiguous range of its cells.
//! Chats never cross a cell, so every chat's participants live in one shard
//! and delivery latency (send answered to seen) is always measured by one
//! process on one clock. Accounts follow users: shard users with global
//! indices `first_user..first_user + users` use the accounts file's entries
//! at those positions, so shards given the same file never share a user.
//!
//! The shard's own scenario keeps the whole run's shape: its ramp carries
//! its share of the users over the same ramp time, so shards started
//! together (`--start-at`) reach full load together, and its seed is mixed
//! with the shard's first user so two shards' chatters do not send in
//! lockstep.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::UsageError;
use crate::load::plan::{Plan, PlannedChat, PlannedUser};
use crate::load::scenario::{Ramp, Scenario};

/// Which shard of how many; numbered from 0 (a Kubernetes Indexed Job's
/// completion index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The largest number of shards accepted (a typo guard, not a limit of the design).
pub(crate) const MAX_SHARDS: u32 = 10_000;

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, e.g. `0/4` ... `3/4`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected I/N, e.g. 0/4 (shards count from 0)"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {i:?} is not a shard number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a number of shards"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "{s:?}: the number of shards must be between 1 and {MAX_SHARDS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "{s:?}: shards count from 0, so the index must be below {count}"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// The users of one shard: a contiguous range of whole cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub shard: Shard,
    pub first_cell: u32,
    pub cells: u32,
    /// Global index of the shard's first user.
    pub first_user: u32,
    pub users: u32,
}

impl Shard {
    /// This shard's cells: cell `c` of `C` belongs to shard `floor(c * N / C)`,
    /// so shard sizes differ by at most one cell.
    pub fn cut(&self, s: &Scenario) -> Result<Cut, UsageError> {
        let cs = s.topology.cell_size.max(1);
        let cells = s.users.div_ceil(cs);
        if self.count > cells {
            return Err(UsageError(format!(
                "--shard {}/{}: scenario {} has {} users in {cells} cells of {cs}, and a shard holds whole cells; use at most {cells} shards",
                self.index, self.count, s.name, s.users
            )));
        }
        let lo = (self.index as u64 * cells as u64 / self.count as u64) as u32;
        let hi = ((self.index as u64 + 1) * cells as u64 / self.count as u64) as u32;
        let first_user = lo * cs;
        let end = (hi * cs).min(s.users);
        Ok(Cut {
            shard: *self,
            first_cell: lo,
            cells: hi - lo,
            first_user,
            users: end - first_user,
        })
    }
}

impl Cut {
    fn range(&self) -> std::ops::Range<u32> {
        self.first_user..self.first_user + self.users
    }

    /// The shard's users and chats out of the whole plan, renumbered from 0.
    pub(crate) fn plan(&self, whole: &Plan) -> Plan {
        let users = self.range();
        let mut index = vec![u32::MAX; whole.chats.len()];
        let mut chats = Vec::new();
        for (i, c) in whole.chats.iter().enumerate() {
            // A chat lives in one cell: its first member says whose it is.
            if c.members.first().is_some_and(|m| users.contains(m)) {
                index[i] = chats.len() as u32;
                chats.push(PlannedChat {
                    kind: c.kind,
                    members: c.members.iter().map(|m| m - self.first_user).collect(),
                    creator: c.creator - self.first_user,
                });
            }
        }
        let users = whole.users[users.start as usize..users.end as usize]
            .iter()
            .map(|u| PlannedUser {
                persona: u.persona,
                chats: u.chats.iter().map(|&c| index[c as usize]).collect(),
            })
            .collect();
        Plan { users, chats }
    }

    /// The scenario this shard runs: its users, the same ramp time, its own seed.
    pub(crate) fn scenario(&self, whole: &Scenario) -> Scenario {
        let mut s = whole.clone();
        let (n, total) = (self.users as f64, whole.users as f64);
        s.users = self.users;
        s.ramp = match &whole.ramp {
            Ramp::Rate { users_per_second } => Ramp::Rate {
                users_per_second: users_per_second * n / total,
            },
            Ramp::Steps { steps } => Ramp::Steps {
                steps: steps
                    .iter()
                    .map(|st| {
                        let mut st = st.clone();
                        st.users = self.share(st.users, whole.users);
                        st
                    })
                    .collect(),
            },
        };
        s.seed = whole.seed ^ splitmix64(self.first_user as u64);
        s
    }

    /// This shard's part of `k` of `total` users, rounded so that the parts
    /// of all shards add up to `k` exactly.
    fn share(&self, k: u32, total: u32) -> u32 {
        let at = |u: u32| ((k as u64 * u as u64 + total as u64 / 2) / total.max(1) as u64) as u32;
        at(self.first_user + self.users) - at(self.first_user)
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The scenario's identity: FNV-1a (64 bits, hex) of its resolved form's
/// JSON. Same file and same overrides (`--duration`, `--users`) on every
/// shard give the same hash; it guards against mistakes, not adversaries.
pub(crate) fn scenario_hash(s: &Scenario) -> String {
    let bytes = serde_json::to_vec(s).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Which shard a summary is, in `summary.json` (absent on a whole run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShardInfo {
    /// This shard's number, from 0.
    pub index: u32,
    /// How many shards the scenario was split into.
    #[schemars(range(min = 1))]
    pub count: u32,
    /// The whole scenario's identity (see `scenario_hash`); merge refuses
    /// shards that disagree on it.
    #[schemars(pattern("^[0-9a-f]{16}$"))]
    pub scenario_hash: String,
    /// Global index of the shard's first user.
    pub first_user: u32,
    /// The shard's users (its part of the scenario's).
    pub users: u32,
    /// Global index of the shard's first cell.
    pub first_cell: u32,
    /// The shard's cells: `first_cell .. first_cell + cells`.
    pub cells: u32,
    /// Chats of the shard's cells.
    pub chats: u32,
    /// The agreed start (`--start-at`), RFC 3339; null if none was given.
    #[schemars(extend("format" = "date-time"))]
    pub start_at: Option<String>,
    /// When this shard's users began, in milliseconds since the Unix epoch:
    /// merge aligns timelines on it.
    pub origin_unix_ms: i64,
    /// Milliseconds from `start_at` to when the users began (set-up overran,
    /// or the shard was started late); null without `start_at`.
    pub late_ms: Option<i64>,
    /// True when the users began more than 1000 ms ([`LATE_AFTER_MS`]) after `start_at`.
    pub late: bool,
}

/// How far past `--start-at` a shard may begin before its report calls it late.
pub(crate) const LATE_AFTER_MS: i64 = 1000;

/// What `load --shard I/N [--start-at TIME]` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardRun {
    pub shard: Shard,
    /// When the users begin, on every shard alike.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A shard run before it starts: what the load engine needs.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub scenario: Scenario,
    pub plan: Plan,
    pub cut: Cut,
    /// The whole scenario, resolved, as the summary shows it.
    pub whole_resolved: serde_json::Value,
    pub info: ShardInfo,
}

/// Cuts a scenario for one shard.
pub(crate) fn prepare(
    whole: &Scenario,
    shard: Shard,
    start_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Prepared, UsageError> {
    let cut = shard.cut(whole)?;
    let plan = cut.plan(&Plan::new(whole));
    Ok(Prepared {
        scenario: cut.scenario(whole),
        info: ShardInfo {
            index: shard.index,
            count: shard.count,
            scenario_hash: scenario_hash(whole),
            first_user: cut.first_user,
            users: cut.users,
            first_cell: cut.first_cell,
            cells: cut.cells,
            chats: plan.chats.len() as u32,
            start_at: start_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            origin_unix_ms: 0,
            late_ms: None,
            late: false,
        },
        plan,
        cut,
        whole_resolved: serde_json::to_value(whole).unwrap_or_default(),
    })
}

impl ShardInfo {
    /// Stamps the moment the users began.
    pub(crate) fn began(&mut self, at: chrono::DateTime<chrono::Utc>) {
        self.origin_unix_ms = at.timestamp_millis();
        if let Some(start) = self
            .start_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            let late = self.origin_unix_ms - start.timestamp_millis();
            self.late_ms = Some(late);
            self.late = late > LATE_AFTER_MS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(users: u32, cell: u32) -> Scenario {
        Scenario::parse(
            &format!("users = {users}\nduration = \"1s\"\n[ramp]\nusers_per_second = 10\n[topology]\ncell_size = {cell}\ndirect_per_cell = 2\ngroups_per_cell = 1\n[[persona]]\nkind = \"chatter\"\nweight = 1\n[[persona]]\nkind = \"poller-design\"\nweight = 3\n"),
            "x.toml",
        )
        .unwrap()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!("4/4".parse::<Shard>().unwrap_err().contains("from 0"));
    }

    #[test]
    fn shards_are_disjoint_whole_cells_covering_everything() {
        let s = scenario(42, 4); // 11 cells, the last of 2 users
        let whole = Plan::new(&s);
        for n in 1..=11 {
            let mut next_user = 0;
            let mut chats = 0;
            let mut personas = vec![0; 2];
            for i in 0..n {
                let cut = Shard { index: i, count: n }.cut(&s).unwrap();
                assert_eq!(cut.first_user, next_user, "contiguous");
                assert_eq!(cut.first_user % 4, 0, "whole cells");
                next_user += cut.users;
                let p = cut.plan(&whole);
                assert_eq!(p.users.len() as u32, cut.users);
                for c in &p.chats {
                    assert!(c.members.iter().all(|&m| m < cut.users));
                    assert!(c.members.contains(&c.creator));
                }
                for (u, pu) in p.users.iter().enumerate() {
                    personas[pu.persona] += 1;
                    for &c in &pu.chats {
                        assert!(p.chats[c as usize].members.contains(&(u as u32)));
                    }
                }
                chats += p.chats.len();
            }
            assert_eq!(next_user, 42);
            assert_eq!(chats, whole.chats.len());
            let mut all = vec![0; 2];
            whole.users.iter().for_each(|u| all[u.persona] += 1);
            assert_eq!(personas, all, "same persona mix");
        }
        // Put back together, the shards are the whole plan.
        let mut users = Vec::new();
        let mut chats = Vec::new();
        for i in 0..4 {
            let cut = Shard { index: i, count: 4 }.cut(&s).unwrap();
            let p = cut.plan(&whole);
            let base = chats.len() as u32;
            users.extend(p.users.into_iter().map(|mut u| {
                u.chats.iter_mut().for_each(|c| *c += base);
                u
            }));
            chats.extend(p.chats.into_iter().map(|mut c| {
                c.members.iter_mut().for_each(|m| *m += cut.first_user);
                c.creator += cut.first_user;
                c
            }));
        }
        assert_eq!(Plan { users, chats }, whole);
        let e = Shard {
            index: 0,
            count: 12,
        }
        .cut(&s)
        .unwrap_err();
        assert!(e.0.contains("at most 11 shards"), "{e}");
    }

    #[test]
    fn shard_scenarios_ramp_together_and_add_up() {
        let s = scenario(40, 4);
        let mut users = 0;
        let mut seeds = std::collections::HashSet::new();
        for i in 0..3 {
            let cut = Shard { index: i, count: 3 }.cut(&s).unwrap();
            let part = cut.scenario(&s);
            assert_eq!(part.ramp_time(), s.ramp_time());
            users += part.users;
            seeds.insert(part.seed);
        }
        assert_eq!(users, 40);
        assert_eq!(seeds.len(), 3);

        let mut stepped = s.clone();
        stepped.ramp = Ramp::Steps {
            steps: vec![
                crate::load::scenario::Step {
                    users: 17,
                    over: std::time::Duration::from_secs(1),
                    hold: std::time::Duration::from_secs(1),
                },
                crate::load::scenario::Step {
                    users: 40,
                    over: std::time::Duration::from_secs(1),
                    hold: std::time::Duration::from_secs(1),
                },
            ],
        };
        let mut sums = [0u32; 2];
        for i in 0..3 {
            let cut = Shard { index: i, count: 3 }.cut(&stepped).unwrap();
            let Ramp::Steps { steps } = cut.scenario(&stepped).ramp else {
                unreachable!()
            };
            sums[0] += steps[0].users;
            sums[1] += steps[1].users;
            assert_eq!(steps[1].users, cut.users);
        }
        assert_eq!(sums, [17, 40]);
    }

    #[test]
    fn identity_follows_the_resolved_scenario() {
        let s = scenario(40, 4);
        assert_eq!(scenario_hash(&s), scenario_hash(&s.clone()));
        assert_ne!(
            scenario_hash(&s),
            scenario_hash(&s.clone().with_duration(std::time::Duration::from_secs(9)))
        );
    }

    #[test]
    fn lateness_against_the_agreed_start() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut p = prepare(&scenario(8, 4), Shard { index: 1, count: 2 }, Some(start)).unwrap();
        p.info.began(start + chrono::Duration::milliseconds(300));
        assert_eq!((p.info.late_ms, p.info.late), (Some(300), false));
        p.info.began(start + chrono::Duration::milliseconds(2500));
        assert_eq!((p.info.late_ms, p.info.late), (Some(2500), true));
        assert_eq!(p.info.first_user, 4);
    }
}
