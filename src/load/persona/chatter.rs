//! `kind = "chatter"`: sends to the chat on screen and polls it with the
//! design's model or the mobile client's. Its section and its rates.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::kind::{ms, Iteration, Kind, Params, Polling, Rates, Sends};
use super::poller_design::{DesignPoller, PollerDesign};
use super::poller_mobile::{MobilePoller, PollerMobile};
use crate::input::InputError;

/// Which polling model a chatter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Design,
    Mobile,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Chatter {
    /// The polling model it uses.
    pub(crate) model: Model,
    /// Mean time between two messages of one user (exponential), ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub(crate) send_every: Duration,
    /// Length of a message's content in bytes (the unique id included).
    pub(crate) content_bytes: u32,
}

/// Its parameters as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    model: Option<Spanned<String>>,
    send_every: Option<Spanned<String>>,
    content_bytes: Option<Spanned<i64>>,
}

impl Kind for Chatter {
    type Section = Section;

    fn resolve(s: Section, at: &Params<'_>) -> Result<Self, InputError> {
        let model = match s.model.as_ref() {
            None => Model::Design,
            Some(m) => match m.get_ref().as_str() {
                "design" => Model::Design,
                "mobile" => Model::Mobile,
                other => {
                    return Err(at.err(
                        m.span().start,
                        "model",
                        format!("unknown model {other:?} (expected design or mobile)"),
                    ))
                }
            },
        };
        let send_every = at.duration(&s.send_every, "send_every", Duration::from_secs(10))?;
        if send_every < Duration::from_millis(10) {
            return Err(at.err(
                at.at(s.send_every.as_ref()),
                "send_every",
                "must be at least 10ms",
            ));
        }
        Ok(Chatter {
            model,
            send_every,
            content_bytes: at.int(&s.content_bytes, "content_bytes", 48, 10_000, 64)?,
        })
    }

    fn polls(&self) -> bool {
        true
    }

    fn iteration(&self) -> Iteration {
        Iteration::Send
    }

    fn poller(&self, since_origin: Duration) -> Option<Box<dyn Polling>> {
        Some(match self.model {
            Model::Design => Box::new(DesignPoller::new(PollerDesign::default(), since_origin)),
            Model::Mobile => Box::new(MobilePoller::new(PollerMobile::default())),
        })
    }

    fn sends(&self) -> Option<Sends> {
        Some(Sends {
            every: self.send_every,
            content_bytes: self.content_bytes,
        })
    }

    fn rates(&self, lambda: f64) -> Rates {
        let sends = 1.0 / self.send_every.as_secs_f64().max(1e-3);
        let what = "get_messages and send_message";
        match self.model {
            Model::Design => PollerDesign::default().rates_with(lambda, sends, sends, true, what),
            Model::Mobile => PollerMobile::default().rates_with(lambda, sends, true, what),
        }
    }

    fn startup_polls(&self, seconds: f64, steady: f64) -> f64 {
        match self.model {
            Model::Design => PollerDesign::default().startup_polls(seconds, steady),
            Model::Mobile => PollerMobile::default().startup_polls(seconds, steady),
        }
    }
}
