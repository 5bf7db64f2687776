//! The hot path of a load run against a plain-http target: one keep-alive
//! HTTP/1.1 connection per simulated user, driven inside the user's own
//! task. Profiling `load` (perf, steady-chat, 2,000 users) put about two
//! thirds of its CPU in reqwest and hyper for requests of a hundred bytes:
//! URL parsing and header maps per request, the pool checkout, and a second
//! task (hyper's connection) woken for every request and answer. Here a
//! request is one `write` of bytes built in place and an answer is read and
//! parsed (httparse, hyper's own parser) in the same task, so a poll costs
//! one timer wake-up and two system calls, as wrk's requests do.
//!
//! https targets keep reqwest (and its shared TLS configuration, see
//! `connect.rs`); this file speaks only what a load run needs: GET with a
//! query, POST with a form body, answers with Content-Length, chunked or
//! close-delimited bodies, and `Connection: close` (a new connection next
//! time, as Frappe behind some proxies requires).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::transport::{Answer, Call};
use crate::contract::Method;

/// Largest answer read; more is a failed request.
const BODY_CAP: usize = 8 << 20;
/// Largest header block read.
// hyper's default read buffer (8 KiB + 100 x 4 KiB): the same answers as the
// reqwest path are accepted; the hostile zoo sends a 64 KiB header.
const HEAD_CAP: usize = 8192 + 4096 * 100;
/// A connection idle longer than this is checked for a close by the server
/// before it is reused (a poller waits up to 3 s between polls).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The most header lines an answer may have (hyper's limit too).
const MAX_HEADERS: usize = 100;

/// What every user's connection shares: where to connect and what to say.
#[derive(Debug)]
pub struct Origin {
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    /// Path prefix of the base URL (without a trailing slash).
    pub prefix: String,
    pub timeout: Duration,
}

impl Origin {
    /// For `http://` base URLs only; None otherwise (https, or unresolvable).
    pub fn new(base_url: &str, timeout: Duration) -> Option<Arc<Origin>> {
        let url = url::Url::parse(base_url).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .ok()?
            .next()?;
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Some(Arc::new(Origin {
            addr,
            host,
            prefix: url.path().trim_end_matches('/').to_owned(),
            timeout,
        }))
    }
}

/// One user's connection.
#[derive(Debug)]
pub struct Conn {
    target: Arc<Origin>,
    source: Option<IpAddr>,
    stream: Option<TcpStream>,
    last_used: Instant,
    /// Request bytes, then answer bytes; kept between requests.
    buf: Vec<u8>,
}

/// Why a request got no HTTP answer.
enum Fail {
    /// Nothing came back on a reused connection: it was closed while idle.
    Stale,
    Other,
}

impl Conn {
    pub fn new(target: Arc<Origin>, source: Option<IpAddr>) -> Conn {
        Conn {
            target,
            source,
            stream: None,
            last_used: Instant::now(),
            buf: Vec::new(),
        }
    }

    /// Sends `call` and reads its answer; no answer is `status: None`.
    pub async fn call(&mut self, call: &Call<'_>) -> Answer {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + self.target.timeout);
        let mut reply = Answer::default();
        let request = self.build(call);
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            let reused = self.stream.is_some();
            match tokio::time::timeout_at(deadline, self.exchange(&request, &mut reply)).await {
                Ok(Ok(())) => break true,
                // Retried once, on a fresh connection, when the server had
                // closed the idle one before reading the request (hyper's
                // rule: nothing of an answer came back).
                Ok(Err(Fail::Stale)) if reused && tries == 1 => self.stream = None,
                _ => break false,
            }
        };
        if !outcome {
            self.stream = None;
            reply.status = None;
            reply.body = Bytes::new();
        }
        self.last_used = Instant::now();
        reply.elapsed = started.elapsed();
        reply
    }

    fn build(&self, call: &Call<'_>) -> Vec<u8> {
        let t = &self.target;
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (k, v) in call.params {
            encoded.append_pair(k, v);
        }
        let encoded = encoded.finish();
        let (prefix, name) = (crate::contract::endpoint::PATH_PREFIX, call.endpoint.name());
        let mut r = Vec::with_capacity(200 + name.len() + encoded.len() + call.auth.len());
        let line = |r: &mut Vec<u8>, parts: &[&[u8]]| {
            for p in parts {
                r.extend_from_slice(p);
            }
            r.extend_from_slice(b"\r\n");
        };
        match call.endpoint.method() {
            Method::Get => {
                let q: &[u8] = if encoded.is_empty() { b"" } else { b"?" };
                line(
                    &mut r,
                    &[
                        b"GET ",
                        t.prefix.as_bytes(),
                        prefix.as_bytes(),
                        name.as_bytes(),
                        q,
                        encoded.as_bytes(),
                        b" HTTP/1.1",
                    ],
                );
            }
            Method::Post => {
                line(
                    &mut r,
                    &[
                        b"POST ",
                        t.prefix.as_bytes(),
                        prefix.as_bytes(),
                        name.as_bytes(),
                        b" HTTP/1.1",
                    ],
                );
                line(
                    &mut r,
                    &[b"content-type: application/x-www-form-urlencoded"],
                );
                line(
                    &mut r,
                    &[b"content-length: ", encoded.len().to_string().as_bytes()],
                );
            }
        }
        line(&mut r, &[b"host: ", t.host.as_bytes()]);
        line(&mut r, &[b"authorization: ", call.auth.as_bytes()]);
        line(&mut r, &[b"accept: */*"]);
        r.extend_from_slice(b"\r\n");
        if call.endpoint.method() == Method::Post {
            r.extend_from_slice(encoded.as_bytes());
        }
        r
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let t = &self.target;
        let socket = if t.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(src) = self.source.filter(|s| s.is_ipv4() == t.addr.is_ipv4()) {
            socket.bind(SocketAddr::new(src, 0))?;
        }
        socket.set_nodelay(true)?;
        socket.connect(t.addr).await
    }

    /// Whether an idle connection was closed by the server (EOF or error
    /// waiting to be read) without blocking.
    fn closed_while_idle(stream: &TcpStream) -> bool {
        let mut probe = [0u8; 1];
        match stream.try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            // Ok(0) is EOF; bytes nobody asked for make it unusable too.
            _ => true,
        }
    }

    async fn exchange(&mut self, request: &[u8], reply: &mut Answer) -> Result<(), Fail> {
        if let Some(s) = &self.stream {
            if self.last_used.elapsed() > IDLE_CHECK && Conn::closed_while_idle(s) {
                self.stream = None;
            }
        }
        let mut stream = match self.stream.take() {
            Some(s) => s,
            None => self.connect().await.map_err(|_| Fail::Other)?,
        };
        if stream.write_all(request).await.is_err() {
            return Err(Fail::Stale);
        }
        self.buf.clear();
        let (keep, body) = read_answer(&mut stream, &mut self.buf, reply).await?;
        reply.body = body;
        if keep {
            self.stream = Some(stream);
        }
        // A large answer's buffer is not kept for the rest of the run.
        if self.buf.capacity() > 64 << 10 {
            self.buf = Vec::new();
        }
        Ok(())
    }
}

/// Reads more bytes into `buf`; false on EOF.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool, Fail> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(buf.capacity().max(2048));
    }
    match stream.read_buf(buf).await {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(_) => Err(Fail::Other),
    }
}

/// Reads one answer; returns whether the connection can be reused and the body.
async fn read_answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    reply: &mut Answer,
) -> Result<(bool, Bytes), Fail> {
    // Head.
    let (head_len, length, chunked, mut keep) = loop {
        // EOF or a reset before any byte of an answer: the server closed
        // the connection (an idle timeout, 30 s in the reference server)
        // while the request was on its way; the caller retries a reused one.
        let more = match fill(stream, buf).await {
            Ok(more) => more,
            Err(_) if buf.is_empty() => return Err(Fail::Stale),
            Err(e) => return Err(e),
        };
        if !more {
            return Err(if buf.is_empty() {
                Fail::Stale
            } else {
                Fail::Other
            });
        }
        // As many header lines as hyper takes: a server behind proxies that
        // add headers must not turn every answer into "no answer".
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = resp.code.unwrap_or(0);
                let mut length = None;
                let mut chunked = false;
                let mut keep = resp.version == Some(1);
                for h in resp.headers.iter() {
                    let name = h.name;
                    if name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = h.value.to_ascii_lowercase().ends_with(b"chunked");
                    } else if name.eq_ignore_ascii_case("connection") {
                        let v = h.value.to_ascii_lowercase();
                        if v.windows(5).any(|w| w == b"close") {
                            keep = false;
                        } else if v.windows(10).any(|w| w == b"keep-alive") {
                            keep = true;
                        }
                    } else if name.eq_ignore_ascii_case(crate::contract::ratelimit::RETRY_AFTER) {
                        reply.retry_after = true;
                    } else if name.eq_ignore_ascii_case(crate::contract::ratelimit::REMAINING) {
                        reply.remaining = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok());
                    }
                }
                if (100..200).contains(&status) {
                    // An interim answer (100 Continue): drop it, read on.
                    buf.drain(..n);
                    continue;
                }
                reply.status = Some(status);
                // No body by definition.
                if status == 204 || status == 304 {
                    length = Some(0);
                }
                break (n, length, chunked, keep);
            }
            Ok(httparse::Status::Partial) if buf.len() < HEAD_CAP => {}
            _ => return Err(Fail::Other),
        }
    };
    if chunked {
        let body = read_chunked(stream, buf, head_len).await?;
        return Ok((keep, body));
    }
    match length {
        Some(n) if n > BODY_CAP => Err(Fail::Other),
        Some(n) => {
            while buf.len() < head_len + n {
                if !fill(stream, buf).await? {
                    return Err(Fail::Other);
                }
            }
            // Bytes beyond the answer: not ours to guess about.
            if buf.len() > head_len + n {
                keep = false;
            }
            Ok((keep, Bytes::copy_from_slice(&buf[head_len..head_len + n])))
        }
        None => {
            // Delimited by the close of the connection.
            while fill(stream, buf).await? {
                if buf.len() - head_len > BODY_CAP {
                    return Err(Fail::Other);
                }
            }
            Ok((false, Bytes::copy_from_slice(&buf[head_len..])))
        }
    }
}

/// Decodes a chunked body that starts at `buf[at..]`.
async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut at: usize,
) -> Result<Bytes, Fail> {
    let mut body = Vec::new();
    loop {
        // Chunk size line.
        let (size, line) = loop {
            match httparse::parse_chunk_size(&buf[at..]) {
                Ok(httparse::Status::Complete((n, size))) => break (size as usize, n),
                Ok(httparse::Status::Partial) => {
                    if !fill(stream, buf).await? {
                        return Err(Fail::Other);
                    }
                }
                Err(_) => return Err(Fail::Other),
            }
        };
        at += line;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                if let Some(end) = find_crlf(&buf[at..]) {
                    if end == 0 {
                        return Ok(Bytes::from(body));
                    }
                    at += end + 2;
                } else if !fill(stream, buf).await? {
                    return Err(Fail::Other);
                }
            }
        }
        // Checked: a hostile chunk size near usize::MAX must not overflow.
        if size > BODY_CAP.saturating_sub(body.len()) {
            return Err(Fail::Other);
        }
        while buf.len() < at + size + 2 {
            if !fill(stream, buf).await? {
                return Err(Fail::Other);
            }
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Endpoint;
    use tokio::net::TcpListener;

    /// A server that answers each request on a connection with the next
    /// canned answer, and records what it was sent.
    async fn canned(
        answers: Vec<&'static [u8]>,
    ) -> (Arc<Origin>, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter();
            'conns: while let Ok((mut s, _)) = l.accept().await {
                loop {
                    let mut b = [0u8; 4096];
                    let n = s.read(&mut b).await.unwrap_or(0);
                    if n == 0 {
                        continue 'conns;
                    }
                    seen.extend_from_slice(&b[..n]);
                    let Some(a) = answers.next() else {
                        break 'conns;
                    };
                    s.write_all(a).await.unwrap();
                    if a.windows(5).any(|w| w == b"close") {
                        continue 'conns;
                    }
                }
            }
            seen
        });
        let t = Origin::new(&format!("http://{addr}/base/"), Duration::from_secs(5)).unwrap();
        (t, task)
    }

    #[tokio::test]
    async fn a_connection_closed_by_the_server_is_retried_once() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // First connection: one answer, then the request after it is
            // read and the connection reset (as an idle timeout can).
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na")
                .await
                .unwrap();
            let _ = s.read(&mut b).await;
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
            // Second connection: the retry.
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.read(&mut b).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb")
                .await
                .unwrap();
            let _ = s.read(&mut b).await;
        });
        let t = Origin::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
        let mut c = Conn::new(t, None);
        let get = Call {
            endpoint: Endpoint::GetChats,
            params: &[],
            auth: "token k:s",
        };
        assert_eq!(&c.call(&get).await.body[..], b"a");
        let r = c.call(&get).await;
        assert_eq!((r.status, &r.body[..]), (Some(200), &b"b"[..]));
        drop(c);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn absurd_chunk_sizes_and_lengths_are_errors_not_panics() {
        let (t, _server) = canned(vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\nffffffffffffffff\r\nx",
            b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\nx",
        ])
        .await;
        let mut c = Conn::new(t, None);
        let get = Call {
            endpoint: Endpoint::GetChats,
            params: &[],
            auth: "token k:s",
        };
        for _ in 0..2 {
            let r = c.call(&get).await;
            assert_eq!(r.status, None, "an answer over the cap is no answer");
        }
    }

    #[tokio::test]
    async fn lengths_chunks_and_closes() {
        let (t, server) = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-ratelimit-remaining: 7\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end",
        ])
        .await;
        let mut c = Conn::new(t, None);
        let params = [("chat", "a b&c"), ("after", "2024-01-01 00:00:00")];
        let get = Call {
            endpoint: Endpoint::GetMessages,
            params: &params,
            auth: "token k:s",
        };
        let r = c.call(&get).await;
        assert_eq!(
            (r.status, &r.body[..], r.remaining),
            (Some(200), &b"hello"[..], Some(7))
        );
        let r = c.call(&get).await;
        assert_eq!((r.status, &r.body[..]), (Some(200), &b"abcde"[..]));
        let post = Call {
            endpoint: Endpoint::SendMessage,
            params: &[("chat", "c1"), ("content", "hi there")],
            auth: "token k:s",
        };
        let r = c.call(&post).await;
        assert_eq!((r.status, &r.body[..]), (Some(429), &b"no"[..]));
        let r = c.call(&get).await;
        assert_eq!((r.status, &r.body[..]), (Some(200), &b"until the end"[..]));
        // The server is gone now: no answer, counted, not a panic.
        let r = c.call(&get).await;
        assert_eq!(r.status, None);
        let seen = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(seen.starts_with(
            "GET /base/api/method/frappe_chat.api.get_messages?chat=a+b%26c&after=2024-01-01+00%3A00%3A00 HTTP/1.1\r\n"
        ));
        assert!(seen.contains("authorization: token k:s\r\n"));
        assert!(seen.contains(
            "POST /base/api/method/frappe_chat.api.send_message HTTP/1.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 24\r\n"
        ));
        assert!(seen.contains("\r\n\r\nchat=c1&content=hi+there"));
    }
}
