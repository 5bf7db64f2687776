//! Who is who in a run: the deterministic assignment of users to personas
//! and chats. The same scenario always gives the same plan, so that shards
//! of one scenario (cells of users) agree on it without talking, and a chat's
//! participants always live in one cell.

use serde::Serialize;

pub use crate::contract::wire::ChatKind;

use super::scenario::Scenario;

/// One user of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedUser {
    /// Index into the scenario's personas.
    pub persona: usize,
    /// Indices into [`Plan::chats`].
    pub chats: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChat {
    pub kind: ChatKind,
    /// User indices, ascending; at most 64.
    pub members: Vec<u32>,
    /// The member that creates it (spread so nobody spends much create_chat quota).
    pub creator: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub users: Vec<PlannedUser>,
    pub chats: Vec<PlannedChat>,
}

impl Plan {
    pub fn new(s: &Scenario) -> Plan {
        let n = s.users as usize;
        let weights: Vec<u32> = s.personas.iter().map(|p| p.weight).collect();
        let personas = smooth_weighted(&weights, n);
        let mut users: Vec<PlannedUser> = personas
            .into_iter()
            .map(|persona| PlannedUser {
                persona,
                chats: Vec::new(),
            })
            .collect();
        let mut chats = Vec::new();
        let cs = s.topology.cell_size as usize;
        let mut start = 0;
        while start < n {
            let end = (start + cs).min(n);
            let size = end - start;
            if size >= 2 {
                for (a, b) in pairs(size)
                    .into_iter()
                    .take(s.topology.direct_per_cell as usize)
                {
                    chats.push((
                        ChatKind::Direct,
                        vec![(start + a) as u32, (start + b) as u32],
                    ));
                }
                for _ in 0..s.topology.groups_per_cell {
                    chats.push((ChatKind::Group, (start..end).map(|u| u as u32).collect()));
                }
            }
            start = end;
        }
        let chats: Vec<PlannedChat> = chats
            .into_iter()
            .enumerate()
            .map(|(i, (kind, members))| PlannedChat {
                kind,
                creator: members[i % members.len()],
                members,
            })
            .collect();
        for (i, c) in chats.iter().enumerate() {
            for &m in &c.members {
                users[m as usize].chats.push(i as u32);
            }
        }
        Plan { users, chats }
    }
}

/// Nginx's smooth weighted round robin: deterministic, and every persona is
/// spread evenly over the users (so over cells too).
fn smooth_weighted(weights: &[u32], n: usize) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    (0..n)
        .map(|_| {
            for (c, &w) in current.iter_mut().zip(weights) {
                *c += w as i64;
            }
            let best = (0..current.len())
                .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                .unwrap_or(0);
            current[best] -= total;
            best
        })
        .collect()
}

/// Pairs of a cell, neighbours first: (0,1), (2,3), ..., (1,2), (3,4), ...,
/// then distance 2, and so on.
fn pairs(size: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for d in 1..size {
        for parity in 0..2 {
            for i in (parity..size - d).step_by(2) {
                out.push((i, i + d));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(users: u32) -> Scenario {
        Scenario::parse(
            &format!("users = {users}\nduration = \"1s\"\n[topology]\ncell_size = 4\ndirect_per_cell = 2\ngroups_per_cell = 1\n[[persona]]\nkind = \"chatter\"\nweight = 1\n[[persona]]\nkind = \"poller-design\"\nweight = 3\n"),
            "x.toml",
        )
        .unwrap()
    }

    #[test]
    fn weights_are_spread_evenly() {
        assert_eq!(smooth_weighted(&[1, 3], 8), [1, 0, 1, 1, 1, 0, 1, 1]);
        assert_eq!(smooth_weighted(&[2, 1], 6), [0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn cells_pair_neighbours_and_group_everyone() {
        let p = Plan::new(&scenario(10));
        let members: Vec<Vec<u32>> = p.chats.iter().map(|c| c.members.clone()).collect();
        assert_eq!(
            members,
            [
                vec![0, 1],
                vec![2, 3],
                vec![0, 1, 2, 3],
                vec![4, 5],
                vec![6, 7],
                vec![4, 5, 6, 7],
                vec![8, 9],
                vec![8, 9],
            ]
        );
        assert_eq!(p.chats[6].kind, ChatKind::Direct);
        assert_eq!(
            p.chats[7].kind,
            ChatKind::Group,
            "a two-user group is still a group"
        );
        assert_eq!(p.users[0].chats, [0, 2]);
        assert_eq!(Plan::new(&scenario(10)), p, "deterministic");
    }

    #[test]
    fn pairs_cover_every_pair_once() {
        let ps = pairs(5);
        assert_eq!(ps.len(), 10);
        assert_eq!(&ps[..4], &[(0, 1), (2, 3), (1, 2), (3, 4)]);
    }
}
