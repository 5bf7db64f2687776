//! The request pipeline shared by both fronts: route, CORS, decode parameters,
//! authenticate, count against the limiter, run the operation, and render the
//! answer with its rate-limit and CORS headers. It speaks `http` types only
//! (no hyper, no wiremock), so both fronts answer identically. [`Core`] and
//! its state live here with the pipeline's steps; who may pass and how the
//! limiter counts are in `admission.rs`, the headers of the answer in
//! `response.rs`, the endpoints in `ops/`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response};

use super::config::ServerConfig;
use super::defect::{Defect, DefectSet};
use super::error::ApiError;
use super::limiter::{Limiter, RateDecision, Subject};
use super::params::RequestParams;
use super::state::{now_micros, render, Caller, State};
use super::variant::{self, CoarseClock, Variant, VariantSet};
use crate::accounts::Account;
use crate::contract::envelope::error_body;
use crate::contract::Endpoint;

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
pub(super) struct Processed {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) ok: bool,
    pub(super) rate: Option<RateDecision>,
    pub(super) refused: bool,
}

impl Processed {
    fn error(e: ApiError, d: DefectSet) -> Processed {
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
        Processed {
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
                let r = Processed::error(ApiError::not_found("No such method"), d);
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

    async fn process(&self, req: &CoreRequest<'_>, mode: Pause) -> Processed {
        let inner = &*self.inner;
        let d = inner.defects;
        let Some(endpoint) = Endpoint::from_path(req.path) else {
            let path: String = req.path.chars().take(80).collect();
            return Processed::error(ApiError::not_found(format!("No such method: {path}")), d);
        };
        if req.body.len() > inner.cfg.body_cap {
            return Processed::error(ApiError::too_large(inner.cfg.body_cap), d);
        }
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let params = match RequestParams::parse(
            req.query,
            content_type,
            req.body,
            d.has(Defect::JsonBodyRejected),
        ) {
            Ok(p) => p,
            Err(e) => return Processed::error(e, d),
        };
        let caller = if endpoint.requires_auth() {
            match self.authenticate(req.headers) {
                Ok(c) => Some(c),
                Err(e) => return Processed::error(e, d),
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
                RateDecision {
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
                        let mut r = Processed::error(
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
                let mut r = Processed::error(e, d);
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
                Processed {
                    status: 200,
                    body,
                    ok: true,
                    rate: None,
                    refused: false,
                }
            }
            Ok(body) => Processed {
                status: 200,
                body,
                ok: true,
                rate: None,
                refused: false,
            },
            Err(e) => Processed::error(e, d),
        };
        r.rate = rate;
        r
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        caller: Option<&Caller>,
        p: &RequestParams,
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
}
