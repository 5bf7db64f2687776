//! The request pipeline shared by both fronts: route, CORS, decode parameters,
//! authenticate, count against the limiter, run the operation, and render the
//! answer with its rate-limit and CORS headers. It speaks `http` types only
//! (no hyper, no wiremock), so both fronts answer identically.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use super::config::{ResetForm, ServerConfig};
use super::defect::{Defect, DefectSet};
use super::error::ApiError;
use super::limiter::{Limiter, Mode, Subject, Verdict};
use super::params::{parse_auth, AuthHeader, Params};
use super::state::{now_micros, render, Caller, State};
use super::variant::{self, CoarseClock, Variant, VariantSet};
use crate::accounts::Account;
use crate::contract::envelope::error_body;
use crate::contract::Endpoint;

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EXPOSED: HeaderValue = HeaderValue::from_static(
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After",
);
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "Authorization, Content-Type, Accept, X-Requested-With, X-Frappe-CSRF-Token",
);
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, OPTIONS");
/// The racy limiter's pause between reading and writing the count.
const RACY_PAUSE: Duration = Duration::from_millis(5);
/// How long a request holds its bucket's lock under `deadlock-under-concurrency`.
const LOCK_HOLD: Duration = Duration::from_millis(20);

/// One request as the core sees it.
#[derive(Debug, Clone, Copy)]
pub struct CoreRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The socket peer; `None` when the front cannot tell (wiremock), in
    /// which case login and signup are keyed as 127.0.0.1.
    pub peer: Option<IpAddr>,
}

/// How a defect's pause waits: on the hyper front it yields to other tasks
/// (so racing requests interleave); on wiremock, which answers one request
/// at a time from a synchronous responder, it blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pause {
    Async,
    Blocking,
}

pub(crate) async fn pause(mode: Pause, d: Duration) {
    match mode {
        Pause::Async => tokio::time::sleep(d).await,
        Pause::Blocking => std::thread::sleep(d),
    }
}

/// The reference server's semantics. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Core {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: ServerConfig,
    pub defects: DefectSet,
    pub limiter: Limiter,
    pub state: State,
    pub variants: VariantSet,
    /// The `serial` variant's lock: held for the whole handling of a request.
    serial: tokio::sync::Mutex<()>,
    /// The `local-zone` variant's clock.
    clock: CoarseClock,
    /// `deadlock-under-concurrency`: the buckets with a request in progress.
    pub locks: std::sync::Mutex<std::collections::HashSet<(Endpoint, Subject)>>,
}

impl Inner {
    #[inline]
    pub fn has(&self, d: Defect) -> bool {
        self.defects.has(d)
    }

    #[inline]
    pub fn variant(&self, v: Variant) -> bool {
        self.variants.has(v)
    }

    /// Microseconds of the naive server-local time: the machine's zone, or
    /// the `local-zone` variant's coarse UTC+05:30 clock.
    pub fn now_micros(&self) -> i64 {
        if self.variant(Variant::LocalZone) {
            self.clock.now_micros()
        } else {
            now_micros()
        }
    }

    /// A timestamp as this server writes it: six fraction digits, or with
    /// `local-zone` the fraction omitted when it is zero.
    pub fn render(&self, micros: i64) -> String {
        if self.variant(Variant::LocalZone) {
            variant::render_short(micros)
        } else {
            render(micros)
        }
    }
}

/// A bucket's lock under `deadlock-under-concurrency`, released on drop.
struct BucketLock<'a> {
    inner: &'a Inner,
    key: (Endpoint, Subject),
}

impl<'a> BucketLock<'a> {
    fn take(inner: &'a Inner, endpoint: Endpoint, who: Subject) -> Option<BucketLock<'a>> {
        let key = (endpoint, who);
        // `then` (lazy), not `then_some`: a lock built and dropped while the
        // set is locked would unlock it from inside, on the same thread.
        let taken = inner.locks.lock().ok()?.insert(key);
        taken.then(|| BucketLock { inner, key })
    }
}

impl Drop for BucketLock<'_> {
    fn drop(&mut self) {
        if let Ok(mut held) = self.inner.locks.lock() {
            held.remove(&self.key);
        }
    }
}

/// What the pipeline produced, before headers.
struct Reply {
    status: u16,
    body: Vec<u8>,
    ok: bool,
    rate: Option<Verdict>,
    refused: bool,
}

impl Reply {
    fn error(e: ApiError, d: DefectSet) -> Reply {
        let mut status = e.status;
        if e.is_validation() && d.has(Defect::ServerErrorOnBadInput) {
            status = 500;
        } else if e.is_validation() && d.has(Defect::WrongErrorStatus) {
            status = 400;
        }
        if d.has(Defect::ErrorAs200) {
            status = 200;
        }
        let mut body = error_body(e.exc_type, &e.message);
        if d.has(Defect::NoExcType) {
            if let Some(o) = body.as_object_mut() {
                o.remove("exc_type");
            }
        }
        Reply {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            ok: false,
            rate: None,
            refused: false,
        }
    }
}

impl Core {
    pub fn new(cfg: ServerConfig) -> Core {
        let state = State::default();
        {
            let mut users = state.users_mut();
            for u in &cfg.users {
                users.add(&u.email, &u.password, &u.full_name);
            }
            for i in 0..cfg.generated_users {
                users.add(
                    &ServerConfig::generated_email(i),
                    super::config::DEFAULT_PASSWORD,
                    &format!("Load User {i}"),
                );
            }
        }
        Core {
            inner: Arc::new(Inner {
                defects: DefectSet::from_iter(&cfg.defects),
                variants: VariantSet::from_iter(&cfg.variants),
                serial: tokio::sync::Mutex::new(()),
                clock: CoarseClock::default(),
                limiter: Limiter::new(cfg.limits.window_seconds),
                state,
                locks: Default::default(),
                cfg,
            }),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.cfg
    }

    /// Every user the server knows (seeded, generated and signed up), with
    /// the password it was given and its current token pair.
    pub fn accounts(&self) -> Vec<Account> {
        self.inner
            .state
            .users()
            .list
            .iter()
            .map(|u| Account {
                email: u.email.to_string(),
                password: Some(u.password.clone()),
                full_name: Some(u.full_name.clone()),
                api_key: Some(u.api_key.clone()),
                api_secret: Some(u.api_secret.clone()),
            })
            .collect()
    }

    /// Answers one request (the hyper front).
    pub async fn handle(&self, req: CoreRequest<'_>) -> Response<Bytes> {
        self.handle_with(req, Pause::Async).await
    }

    /// Answers one request synchronously (the wiremock front).
    pub fn handle_blocking(&self, req: CoreRequest<'_>) -> Response<Bytes> {
        futures::executor::block_on(self.handle_with(req, Pause::Blocking))
    }

    async fn handle_with(&self, req: CoreRequest<'_>, mode: Pause) -> Response<Bytes> {
        let inner = &*self.inner;
        // `serial`: one request at a time, its latency included.
        let _serial = if inner.variant(Variant::Serial) {
            Some(inner.serial.lock().await)
        } else {
            None
        };
        if !inner.cfg.latency.is_zero() {
            pause(mode, inner.cfg.latency).await;
        }
        let mut r = self.answer(req, mode).await;
        if inner.variant(Variant::ConnectionClose) {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }

    async fn answer(&self, req: CoreRequest<'_>, mode: Pause) -> Response<Bytes> {
        let inner = &*self.inner;
        let d = inner.defects;
        let origin = req
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let cors = self.cors_origin(origin);
        if *req.method == Method::OPTIONS {
            if d.has(Defect::NoPreflight) {
                let r = Reply::error(ApiError::not_found("No such method"), d);
                return self.finish(r, None);
            }
            return self.preflight(cors);
        }
        let mut reply = self.process(&req, mode).await;
        if inner.variant(Variant::ExtraKeys) {
            reply.body =
                variant::with_extra_keys(&reply.body, Endpoint::from_path(req.path), reply.ok);
        }
        let dropped = d.has(Defect::NoCorsOnOrdinary)
            || (d.has(Defect::NoCorsOnPost) && *req.method == Method::POST)
            || (d.has(Defect::NoCorsOnAuthError) && reply.status == 401)
            || (d.has(Defect::NoCorsOnRefusal) && reply.refused)
            || (d.has(Defect::NoCorsOnPostRefusal) && reply.refused && *req.method == Method::POST);
        let cors = if dropped { None } else { cors };
        self.finish(reply, cors)
    }

    async fn process(&self, req: &CoreRequest<'_>, mode: Pause) -> Reply {
        let inner = &*self.inner;
        let d = inner.defects;
        let Some(endpoint) = Endpoint::from_path(req.path) else {
            let path: String = req.path.chars().take(80).collect();
            return Reply::error(ApiError::not_found(format!("No such method: {path}")), d);
        };
        if req.body.len() > inner.cfg.body_cap {
            return Reply::error(ApiError::too_large(inner.cfg.body_cap), d);
        }
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let params = match Params::parse(
            req.query,
            content_type,
            req.body,
            d.has(Defect::JsonBodyRejected),
        ) {
            Ok(p) => p,
            Err(e) => return Reply::error(e, d),
        };
        let caller = if endpoint.requires_auth() {
            match self.authenticate(req.headers) {
                Ok(c) => Some(c),
                Err(e) => return Reply::error(e, d),
            }
        } else {
            None
        };
        let mut rate = None;
        let mut _lock = None;
        if let Some(limit) = inner.cfg.limits.limit(endpoint) {
            let who = self.subject(endpoint, caller.as_ref(), req);
            // `failed-login-not-counted`: a login is only looked at here,
            // and counted after it succeeded.
            let uncounted_login =
                endpoint == Endpoint::Login && d.has(Defect::FailedLoginNotCounted);
            let mut verdict = if uncounted_login {
                inner
                    .limiter
                    .peek(endpoint, who, limit, self.window_mode(endpoint))
            } else if endpoint == Endpoint::GetMessages && d.has(Defect::OverLimitByOneGetMessages)
            {
                // One more than the limit is let through; the headers
                // announce the limit and count down to 0 all the same.
                let v = self.count(endpoint, who, limit + 1, mode).await;
                Verdict {
                    limit,
                    remaining: v.remaining.saturating_sub(1),
                    ..v
                }
            } else {
                self.count(endpoint, who, limit, mode).await
            };
            if verdict.allowed
                && endpoint == Endpoint::CreateChat
                && d.has(Defect::DoubleCountCreateChat)
            {
                inner
                    .limiter
                    .record(endpoint, who, self.window_mode(endpoint));
                verdict.remaining = verdict.remaining.saturating_sub(1);
            }
            if verdict.allowed && d.has(Defect::DeadlockUnderConcurrency) {
                // Counted, then the bucket's row is locked while the request
                // runs; a second request of the same bucket meanwhile dies in
                // a deadlock, as a database under concurrent writes does.
                match BucketLock::take(inner, endpoint, who) {
                    Some(l) => {
                        pause(mode, LOCK_HOLD).await;
                        _lock = Some(l);
                    }
                    None => {
                        let mut r = Reply::error(
                            ApiError::internal(
                                "Deadlock found when trying to get lock; try restarting transaction",
                            ),
                            d,
                        );
                        r.rate = Some(verdict);
                        return r;
                    }
                }
            }
            rate = Some(verdict);
            if !verdict.allowed {
                if (endpoint == Endpoint::SendMessage && d.has(Defect::RefusedSendStored))
                    || (endpoint == Endpoint::CreateChat && d.has(Defect::RefusedCreateStored))
                {
                    let _ = self
                        .dispatch(endpoint, caller.as_ref(), &params, mode)
                        .await;
                }
                let e = if self.refuses_with_417() {
                    ApiError::validation("Rate limit exceeded")
                } else {
                    ApiError::too_many(format!(
                        "Rate limit exceeded for {endpoint}: {limit} requests per {} s",
                        inner.cfg.limits.window_seconds
                    ))
                };
                let mut r = Reply::error(e, d);
                r.rate = rate;
                r.refused = true;
                return r;
            }
        }
        let mut r = match self
            .dispatch(endpoint, caller.as_ref(), &params, mode)
            .await
        {
            Ok(body) if endpoint == Endpoint::Login && d.has(Defect::FailedLoginNotCounted) => {
                if let (Some(v), Some(limit)) = (rate.as_mut(), inner.cfg.limits.limit(endpoint)) {
                    let who = self.subject(endpoint, caller.as_ref(), req);
                    *v = inner
                        .limiter
                        .check(endpoint, who, limit, self.window_mode(endpoint));
                }
                Reply {
                    status: 200,
                    body,
                    ok: true,
                    rate: None,
                    refused: false,
                }
            }
            Ok(body) => Reply {
                status: 200,
                body,
                ok: true,
                rate: None,
                refused: false,
            },
            Err(e) => Reply::error(e, d),
        };
        r.rate = rate;
        r
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        caller: Option<&Caller>,
        p: &Params,
        mode: Pause,
    ) -> Result<Vec<u8>, ApiError> {
        let inner = &*self.inner;
        let caller = || caller.ok_or_else(|| ApiError::internal("no caller"));
        match endpoint {
            Endpoint::Login => inner.login(p),
            Endpoint::Signup => inner.signup(p),
            Endpoint::GetChats => inner.get_chats(caller()?),
            Endpoint::CreateChat => inner.create_chat(caller()?, p),
            Endpoint::GetMessages => inner.get_messages(caller()?, p),
            Endpoint::SendMessage => inner.send_message(caller()?, p, mode).await,
            Endpoint::MarkAsRead => inner.mark_as_read(caller()?, p),
            Endpoint::GetChatParticipants => inner.get_chat_participants(caller()?, p),
            Endpoint::GetUsers => inner.get_users(caller()?),
        }
    }

    /// AUTH-3..AUTH-5: no header is 403 (Frappe's Guest), a wrong or
    /// malformed one 401. Failed authentication never reaches the limiter.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
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
    fn subject(&self, endpoint: Endpoint, caller: Option<&Caller>, req: &CoreRequest) -> Subject {
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
    fn window_mode(&self, endpoint: Endpoint) -> Mode {
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

    async fn count(&self, endpoint: Endpoint, who: Subject, limit: u32, mode: Pause) -> Verdict {
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
    fn refuses_with_417(&self) -> bool {
        self.inner.has(Defect::RefuseWith417) || self.inner.variant(Variant::Refuse417)
    }

    /// Sets a list-valued header: one line, or with `split-list-headers` one
    /// line per item (RFC 9110 5.3: the same field).
    fn list_header(&self, h: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
        if !self.inner.variant(Variant::SplitListHeaders) {
            h.insert(name, value);
            return;
        }
        h.remove(&name);
        let text = value.to_str().unwrap_or_default().to_owned();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(v) = HeaderValue::from_str(item) {
                h.append(name.clone(), v);
            }
        }
    }

    /// `Vary`: `Origin`, and with `split-list-headers` a first line
    /// `Accept-Encoding` so that `Origin` is only on the second.
    fn vary(&self, h: &mut HeaderMap) {
        let value = if self.inner.variant(Variant::SplitListHeaders) {
            HeaderValue::from_static("Accept-Encoding, Origin")
        } else {
            HeaderValue::from_static("Origin")
        };
        self.list_header(h, header::VARY, value);
    }

    /// CORS-1..3: the origin to echo, if any.
    fn cors_origin(&self, origin: Option<&str>) -> Option<HeaderValue> {
        let d = self.inner.defects;
        if d.has(Defect::CorsWildcard) {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = origin?;
        let allowed = d.has(Defect::ReflectAnyOrigin) || self.origin_allowed(origin);
        allowed
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }

    /// `http://localhost[:port]`, `http://127.0.0.1[:port]` and the
    /// configured production origin (compared without a trailing slash).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let d = self.inner.defects;
        let production = self.inner.cfg.production_origin.as_deref();
        if d.has(Defect::CorsNullOrigin) && origin == "null" {
            return true;
        }
        if d.has(Defect::CorsPrefixMatch) {
            let mut prefixes = vec!["http://localhost", "http://127.0.0.1"];
            prefixes.extend(production.map(|p| p.trim_end_matches('/')));
            if prefixes.iter().any(|p| origin.starts_with(p)) {
                return true;
            }
        }
        if d.has(Defect::CorsAnyScheme) {
            let bare = |o: &str| {
                let o = o.trim_end_matches('/');
                o.split_once("://").map_or(o, |(_, rest)| rest).to_owned()
            };
            if production.is_some_and(|p| bare(p) == bare(origin)) {
                return true;
            }
        }
        let dev = ["http://localhost", "http://127.0.0.1"].iter().any(|host| {
            origin.strip_prefix(host).is_some_and(|rest| {
                rest.is_empty()
                    || rest.strip_prefix(':').is_some_and(|port| {
                        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
                    })
            })
        });
        dev || production.is_some_and(|p| p.trim_end_matches('/') == origin.trim_end_matches('/'))
    }

    fn preflight(&self, cors: Option<HeaderValue>) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        // Split over lines, `Authorization` comes last: a client reading only
        // the first line misses it.
        let allow_headers = if self.inner.variant(Variant::SplitListHeaders) {
            HeaderValue::from_static(
                "Content-Type, Accept, X-Requested-With, X-Frappe-CSRF-Token, Authorization",
            )
        } else {
            ALLOW_HEADERS
        };
        let h = r.headers_mut();
        self.vary(h);
        self.list_header(h, header::ALLOW, ALLOW_METHODS);
        if let Some(origin) = cors {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            let methods = if self.inner.defects.has(Defect::NoPostPreflight) {
                HeaderValue::from_static("GET, OPTIONS")
            } else {
                ALLOW_METHODS
            };
            self.list_header(h, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            self.list_header(h, header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        r
    }

    fn finish(&self, reply: Reply, cors: Option<HeaderValue>) -> Response<Bytes> {
        let inner = &*self.inner;
        let d = inner.defects;
        let mut body = reply.body;
        let mut rate_headers = Vec::new();
        if let Some(v) = reply.rate {
            let limit = if d.has(Defect::WrongLimitHeader) {
                u64::from(v.limit) * 2
            } else {
                u64::from(v.limit)
            };
            let remaining = if v.allowed && d.has(Defect::RemainingOffByOne) {
                u64::from(v.remaining) + 1
            } else {
                u64::from(v.remaining)
            };
            let secs = v.reset_ms.div_ceil(1000);
            let reset = if d.has(Defect::ResetInconsistent) {
                v.reset_ms
            } else {
                match inner.cfg.reset_form {
                    ResetForm::Delta => secs,
                    ResetForm::Epoch => unix_now() + secs,
                }
            };
            let skip = d.has(Defect::NoRateHeaders)
                || (reply.refused && d.has(Defect::NoHeadersOnRefusal))
                || (!reply.ok
                    && !reply.refused
                    && (400..500).contains(&reply.status)
                    && d.has(Defect::NoHeadersOn4xx));
            if d.has(Defect::RateHeadersInBody) {
                body = with_body_keys(&body, limit, remaining, reset);
            } else if !skip {
                rate_headers.push((X_LIMIT, limit));
                rate_headers.push((X_REMAINING, remaining));
                rate_headers.push((X_RESET, reset));
            }
            if reply.refused && !self.refuses_with_417() {
                rate_headers.push((header::RETRY_AFTER, secs.max(1)));
            }
        }
        let mut r = Response::new(Bytes::from(body));
        *r.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = r.headers_mut();
        let content_type = if reply.ok && d.has(Defect::WrongContentType) {
            HeaderValue::from_static("text/html; charset=utf-8")
        } else {
            JSON
        };
        h.insert(header::CONTENT_TYPE, content_type);
        for (name, value) in rate_headers {
            h.insert(name, HeaderValue::from(value));
        }
        self.vary(h);
        if let Some(origin) = cors {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            if !d.has(Defect::NoExposeHeaders) && (reply.ok || !d.has(Defect::NoExposeOnErrors)) {
                self.list_header(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
            }
        }
        r
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `rate-headers-in-body` defect: the values as keys of the JSON body.
fn with_body_keys(body: &[u8], limit: u64, remaining: u64, reset: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("X-RateLimit-Limit".into(), limit.into());
        o.insert("X-RateLimit-Remaining".into(), remaining.into());
        o.insert("X-RateLimit-Reset".into(), reset.into());
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
