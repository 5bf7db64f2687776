//! The hyper front: what `chat-harness serve` and load runs use. HTTP/1.1
//! with keep-alive on the caller's multi-threaded tokio runtime, a listen
//! backlog of 8192 (thousands of users connecting within a second overflow
//! the default 128), bodies read up to the cap (413 beyond, after reading
//! and discarding up to 16 MiB so the client sees the answer), and a prompt
//! shutdown: stop accepting, ask every connection to finish its current
//! exchange, abort what remains after two seconds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::ServerConfig;
use super::error::ApiError;
use super::pipeline::{Core, CoreRequest};

const BACKLOG: i32 = 8192;
/// A client that sends no complete request head within this is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A server started by [`serve`]. Dropping it without [`shutdown`](Self::shutdown)
/// also stops it (the accept loop ends when the handle is gone).
pub struct RunningServer {
    addr: SocketAddr,
    core: Core,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Stops accepting, lets in-flight exchanges finish (two seconds at most)
    /// and closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The embedded reference server of `check`, `limits`, `load` and
/// `capacity` without `--target`: `config` served on a free loopback port.
/// The one place those commands start it.
pub async fn embedded(config: ServerConfig) -> Result<RunningServer, crate::error::SetupError> {
    serve(config, ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| {
            crate::error::SetupError(format!("cannot start the embedded reference server: {e}"))
        })
}

/// Binds `bind` (port 0 picks a free one) and serves `config` on the current
/// tokio runtime. Returns once the socket is listening.
pub async fn serve(config: ServerConfig, bind: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = listen(bind)?;
    let addr = listener.local_addr()?;
    let core = Core::new(config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, core.clone(), stopped));
    Ok(RunningServer {
        addr,
        core,
        stop,
        task: Some(task),
    })
}

fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(listener: TcpListener, core: Core, mut stopped: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            a = listener.accept() => a,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            // Out of file descriptors and the like: back off briefly.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let core = core.clone();
        let mut stop = stopped.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| {
                let core = core.clone();
                async move { Ok::<_, Infallible>(answer(&core, req, peer).await) }
            });
            let conn = http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn answer(core: &Core, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let cap = core.config().body_cap;
    let response = match read_body(body, cap).await {
        Body::Whole(body) => {
            core.handle(CoreRequest {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
                peer: Some(peer.ip()),
            })
            .await
        }
        Body::TooLarge { drained } => too_large(core, cap, &parts, drained),
    };
    response.map(Full::new)
}

/// Bodies over the cap are read and discarded up to this, so that the 413
/// reaches a client still sending (closing early would reset its connection).
const DRAIN_MAX: usize = 16 << 20;

enum Body {
    Whole(Bytes),
    /// Over the cap; `drained` when the whole body was read (keep-alive is safe).
    TooLarge {
        drained: bool,
    },
}

async fn read_body(mut body: Incoming, cap: usize) -> Body {
    if hyper::body::Body::is_end_stream(&body) {
        return Body::Whole(Bytes::new());
    }
    let mut buf = bytes::BytesMut::new();
    let (mut total, mut over) = (0usize, false);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Body::TooLarge { drained: false };
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > DRAIN_MAX {
            return Body::TooLarge { drained: false };
        }
        if total > cap {
            over = true;
            buf = bytes::BytesMut::new();
        } else if !over {
            buf.extend_from_slice(&data);
        }
    }
    if over {
        Body::TooLarge { drained: true }
    } else {
        Body::Whole(buf.freeze())
    }
}

/// 413 for a body over the cap.
fn too_large(
    core: &Core,
    cap: usize,
    parts: &http::request::Parts,
    drained: bool,
) -> Response<Bytes> {
    let e = ApiError::too_large(cap);
    let body = crate::contract::envelope::error_body(e.exc_type, &e.message);
    let mut r = Response::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(origin) = parts
        .headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| core.origin_allowed(o))
        .and_then(|o| http::HeaderValue::from_str(o).ok())
    {
        r.headers_mut()
            .insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if !drained {
        // The unread rest of the body would desynchronise keep-alive.
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    r
}
