//! Fixtures several checks read, each built once on first use: POLL-8's
//! chat of 101 messages, ENV-2/3's error answers, RL-1/2's probes, and the
//! rate-limit sweep ([`Exhausted`]) with the buckets it spent ([`Spent`]).

use crate::check::verdict::Verdict;
use crate::client::Exchange;
use crate::contract::Endpoint;

use super::user::SignedIn;

/// One answer per endpoint, and notes on endpoints not probed.
pub(crate) type Probes = (Vec<(Endpoint, Exchange)>, Vec<String>);

/// Fixtures several checks read (built on first use).
#[derive(Default)]
pub(crate) struct Fixtures {
    /// POLL-8: a chat of 101 messages, and a participant to read it as.
    pub(crate) big_chat: tokio::sync::OnceCell<Result<(String, SignedIn), Verdict>>,
    /// ENV-2/3: answers to requests that must fail, with what each was.
    pub(crate) error_answers: tokio::sync::OnceCell<Result<Vec<(&'static str, Exchange)>, Verdict>>,
    /// RL-1/2: one counted answer per table endpoint, and notes on gaps.
    pub(crate) rl_probes: tokio::sync::OnceCell<Result<Probes, Verdict>>,
    /// RL: the sweep, a user whose buckets of the four user endpoints were
    /// driven to a refusal.
    pub(crate) exhausted: tokio::sync::OnceCell<Result<Exhausted, Verdict>>,
}

/// One endpoint's bucket, spent by the sweep in one burst of more than
/// its limit from an idle bucket.
#[derive(Clone)]
pub(crate) struct Spent {
    pub(crate) endpoint: Endpoint,
    pub(crate) limit: u32,
    /// Every answer, in the order the requests were built (request `i`
    /// carries `i` in its chat name or content).
    pub(crate) answers: Vec<Exchange>,
    /// Whether the burst took longer than a window (nothing about the
    /// count can be judged then).
    pub(crate) too_slow: Option<Verdict>,
}

impl Spent {
    pub(crate) fn accepted(&self) -> u32 {
        self.answers.iter().filter(|ex| ex.is_success()).count() as u32
    }

    /// The answers the limiter counted: everything but its refusals
    /// (counted whatever the final status).
    pub(crate) fn counted(&self) -> impl Iterator<Item = &Exchange> {
        self.answers.iter().filter(|ex| ex.refusal().is_none())
    }

    /// The first answer the limiter refused (in any form the classifier
    /// knows), else the first 4xx.
    pub(crate) fn first_refusal(&self) -> Option<&Exchange> {
        self.answers
            .iter()
            .find(|ex| ex.refusal().is_some())
            .or_else(|| {
                self.answers
                    .iter()
                    .find(|ex| (400..500).contains(&ex.status))
            })
    }
}

/// Another user's answers of one endpoint, before and after the sweep's
/// user spent that endpoint's bucket (RL-7.1).
#[derive(Clone)]
pub(crate) struct OtherUser {
    pub(crate) endpoint: Endpoint,
    /// Two requests one after the other: the step one request takes.
    pub(crate) before: Vec<Exchange>,
    pub(crate) after: Exchange,
}

/// The sweep: one fresh user spends its buckets of get_chats, create_chat,
/// get_messages and send_message (independent buckets, so one user serves
/// all four), while another user's buckets are looked at before and after.
/// RL-1.2, RL-3.1, RL-4.1, RL-4b.1, RL-5.1, RL-7.1 and RL-8.1 read it.
#[derive(Clone)]
pub(crate) struct Exhausted {
    pub(crate) user: SignedIn,
    /// The user was signed up by this run: its buckets started empty, so
    /// counts are judged exactly.
    pub(crate) exact: bool,
    /// The chat of the sweep's user and the other user (get_messages and
    /// send_message are spent in it).
    pub(crate) chat: String,
    /// Names the sweep's chats and contents: `{tag}-{i}`.
    pub(crate) tag: String,
    pub(crate) spent: Vec<Spent>,
    /// RL-7.1's evidence, or why it could not be gathered.
    pub(crate) other: Result<Vec<OtherUser>, Verdict>,
}

impl Exhausted {
    pub(crate) fn get(&self, e: Endpoint) -> Option<&Spent> {
        self.spent.iter().find(|s| s.endpoint == e)
    }
}
