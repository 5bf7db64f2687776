//! Who may pass: authentication (AUTH-3..AUTH-5), the bucket a request is
//! counted in (RL-7), how its window behaves (the RL-6 defects) and the
//! count itself, racy or not.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};

use super::defect::Defect;
use super::error::ApiError;
use super::limiter::{Mode, RateDecision, Subject};
use super::params::{parse_auth, AuthHeader};
use super::pipeline::{pause, Core, CoreRequest, Pause};
use super::state::Caller;
use super::variant::Variant;
use crate::contract::Endpoint;

/// The racy limiter's pause between reading and writing the count.
const RACY_PAUSE: Duration = Duration::from_millis(5);

impl Core {
    /// AUTH-3..AUTH-5: no header is 403 (Frappe's Guest), a wrong or
    /// malformed one 401. Failed authentication never reaches the limiter.
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let inner = &*self.inner;
        let raw = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let (key, secret) = match parse_auth(raw) {
            AuthHeader::Pair(k, s) => (k, s),
            AuthHeader::Absent if inner.has(Defect::AnonymousAllowed) => {
                return Ok(Caller {
                    id: None,
                    email: Arc::from("Guest"),
                })
            }
            AuthHeader::Absent => {
                return Err(ApiError::permission(
                    "Not permitted: log in or send Authorization: token KEY:SECRET",
                ))
            }
            AuthHeader::Malformed(_) if inner.has(Defect::MalformedAuth500) => {
                return Err(ApiError::internal("list index out of range"))
            }
            AuthHeader::Malformed(_) => {
                return Err(ApiError::authentication(
                    "Malformed Authorization header: expected token KEY:SECRET",
                ))
            }
        };
        let users = inner.state.users();
        let user = users.by_key.get(&key).and_then(|id| users.get(*id));
        match user {
            Some(u) if u.api_secret == secret || inner.has(Defect::WrongSecretAccepted) => {
                Ok(Caller {
                    id: Some(u.id),
                    email: u.email.clone(),
                })
            }
            _ => Err(ApiError::authentication("Invalid API key or secret")),
        }
    }

    /// RL-7: per user for the user's endpoints, per socket address for login
    /// and signup (X-Forwarded-For is ignored).
    pub(super) fn subject(
        &self,
        endpoint: Endpoint,
        caller: Option<&Caller>,
        req: &CoreRequest,
    ) -> Subject {
        let d = self.inner.defects;
        let peer = req.peer.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        if endpoint.limited_per_address() {
            if d.has(Defect::TrustForwardedFor) {
                let forwarded = req
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .and_then(|v| v.trim().parse::<IpAddr>().ok());
                return Subject::Addr(forwarded.unwrap_or(peer));
            }
            return Subject::Addr(peer);
        }
        if d.has(Defect::SharedBucket) {
            return Subject::Shared;
        }
        if endpoint == Endpoint::GetMessages && d.has(Defect::PerAddressGetMessages) {
            return Subject::Addr(peer);
        }
        match caller.and_then(|c| c.id) {
            Some(id) => Subject::User(id),
            None => Subject::Addr(peer),
        }
    }

    /// How the limiter's window of `endpoint` behaves (the RL-6 defects).
    pub(super) fn window_mode(&self, endpoint: Endpoint) -> Mode {
        let inner = &*self.inner;
        if inner.has(Defect::FixedWindow)
            || (endpoint == Endpoint::SendMessage && inner.has(Defect::FixedWindowSendMessage))
        {
            Mode::Fixed
        } else if inner.has(Defect::WindowRestartsOnRequest)
            || (endpoint == Endpoint::CreateChat
                && inner.has(Defect::WindowRestartsOnRequestCreateChat))
        {
            Mode::RestartOnRequest
        } else {
            Mode::Sliding
        }
    }

    pub(super) async fn count(
        &self,
        endpoint: Endpoint,
        who: Subject,
        limit: u32,
        mode: Pause,
    ) -> RateDecision {
        let inner = &*self.inner;
        let window = self.window_mode(endpoint);
        let racy = inner.has(Defect::RacyCounter)
            || (endpoint == Endpoint::SendMessage && inner.has(Defect::RacyCounterSendMessage));
        if !racy {
            return inner.limiter.check(endpoint, who, limit, window);
        }
        let mut seen = inner.limiter.peek(endpoint, who, limit, window);
        pause(mode, RACY_PAUSE).await;
        if seen.allowed {
            inner.limiter.record(endpoint, who, window);
            seen.remaining = seen.remaining.saturating_sub(1);
        }
        seen
    }

    /// Refusals as 417 without Retry-After: the RL-4b defect, or the
    /// `refuse-417` variant (the same answer, judged non-strict).
    pub(super) fn refuses_with_417(&self) -> bool {
        self.inner.has(Defect::RefuseWith417) || self.inner.variant(Variant::Refuse417)
    }
}
