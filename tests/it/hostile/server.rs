//! Hostile servers on raw loopback sockets: each misbehaves in one way that
//! wiremock cannot express (silence, trickles, resets, HTTP/1.0, absurd
//! headers), so that every command can be pointed at it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One way of misbehaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Accepts, reads the request, never answers.
    Silent,
    /// Sends a status line and headers promising a body, then nothing.
    HeadersOnly,
    /// Sends a body one byte a second.
    Trickle,
    /// Sends half a body, then resets the connection (RST).
    ResetMidBody,
    /// Streams a body far over the client's cap (no Content-Length).
    Huge,
    /// A 200 whose JSON body holds bytes that are not UTF-8.
    InvalidUtf8,
    /// A 200 whose body is truncated JSON.
    InvalidJson,
    /// A 200 of valid JSON in the wrong shape for every endpoint.
    WrongShape,
    /// A 200 carrying an error envelope.
    OkWithErrorEnvelope,
    /// A 500 carrying a success body.
    ErrorWithSuccessBody,
    /// Right bodies, absurd headers: a 64 KiB header, duplicated, non-numeric,
    /// negative and 2^64 X-RateLimit values.
    AbsurdHeaders,
    /// Accepts and closes every connection without a byte.
    CloseEvery,
    /// Answers right bodies in HTTP/1.0, close-delimited.
    Http10,
    /// A 302 to itself, forever.
    RedirectLoop,
    /// Right answers for login and create_chat (so a load run gets past
    /// set-up), silence for everything else: hostility in the middle of a run.
    SilentAfterSetUp,
}

impl Hostile {
    pub const ALL: [Hostile; 15] = [
        Hostile::Silent,
        Hostile::HeadersOnly,
        Hostile::Trickle,
        Hostile::ResetMidBody,
        Hostile::Huge,
        Hostile::InvalidUtf8,
        Hostile::InvalidJson,
        Hostile::WrongShape,
        Hostile::OkWithErrorEnvelope,
        Hostile::ErrorWithSuccessBody,
        Hostile::AbsurdHeaders,
        Hostile::CloseEvery,
        Hostile::Http10,
        Hostile::RedirectLoop,
        Hostile::SilentAfterSetUp,
    ];
}

/// A running hostile server; it stops when dropped.
pub struct HostileServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    pub async fn start(kind: Hostile) -> HostileServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let _ = serve_conn(kind, sock).await;
                });
            }
        });
        HostileServer { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request line's path, once the head (and any Content-Length body) is read.
async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_owned();
    Ok(Some(path))
}

/// A right answer for the endpoint in `path`, so that servers which only
/// break the transport get past login and set-up.
fn good_body(path: &str) -> String {
    let name = path.rsplit('.').next().unwrap_or_default();
    match name {
        "login" | "signup" => r#"{"message":{"message":"Logged In","api_key":"k","api_secret":"s","full_name":"H","email":"h@example.com"}}"#.into(),
        "get_chats" | "get_messages" | "get_users" | "get_chat_participants" => r#"{"message":[]}"#.into(),
        "create_chat" => r#"{"message":"CHAT-0001"}"#.into(),
        "send_message" => r#"{"message":{"name":"MSG-1","sender":"h@example.com","content":"x","creation":"2026-01-01 00:00:00.000001"}}"#.into(),
        _ => r#"{"message":null}"#.into(),
    }
}

fn response(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

async fn serve_conn(kind: Hostile, mut sock: TcpStream) -> std::io::Result<()> {
    if kind == Hostile::CloseEvery {
        return Ok(());
    }
    while let Some(path) = read_request(&mut sock).await? {
        match kind {
            Hostile::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Hostile::HeadersOnly => {
                sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
                    .await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Hostile::Trickle => {
                let body = good_body(&path);
                sock.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len())
                        .as_bytes(),
                )
                .await?;
                for b in body.bytes() {
                    sock.write_all(&[b]).await?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Hostile::ResetMidBody => {
                let body = good_body(&path);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len() + 1000);
                sock.write_all(head.as_bytes()).await?;
                sock.write_all(&body.as_bytes()[..body.len() / 2]).await?;
                sock.flush().await?;
                // A zero linger makes the close an RST, not a FIN.
                socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            Hostile::Huge => {
                sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"message\":\"")
                    .await?;
                let block = vec![b'a'; 64 << 10];
                // 64 MiB at most; the client should give up at its cap (8 MiB).
                for _ in 0..1024 {
                    sock.write_all(&block).await?;
                }
                return Ok(());
            }
            Hostile::InvalidUtf8 => {
                sock.write_all(&response(
                    "200 OK",
                    "",
                    b"{\"message\":\"\xff\xfe\xc3\x28\"}",
                ))
                .await?;
            }
            Hostile::InvalidJson => {
                sock.write_all(&response("200 OK", "", b"{\"message\": [1, 2,"))
                    .await?;
            }
            Hostile::WrongShape => {
                sock.write_all(&response(
                    "200 OK",
                    "",
                    br#"{"message":{"unexpected":[true]}}"#,
                ))
                .await?;
            }
            Hostile::OkWithErrorEnvelope => {
                let body = br#"{"exc_type":"AuthenticationError","exception":"frappe.exceptions.AuthenticationError: nope","_server_messages":"[\"{\\\"message\\\": \\\"Invalid login\\\"}\"]"}"#;
                sock.write_all(&response("200 OK", "", body)).await?;
            }
            Hostile::ErrorWithSuccessBody => {
                let body = good_body(&path);
                sock.write_all(&response("500 Internal Server Error", "", body.as_bytes()))
                    .await?;
            }
            Hostile::AbsurdHeaders => {
                let big = "x".repeat(64 << 10);
                let extra = format!(
                    "X-Huge: {big}\r\nX-RateLimit-Limit: 18446744073709551616\r\nX-RateLimit-Limit: 5\r\nX-RateLimit-Remaining: abc\r\nX-RateLimit-Reset: -5\r\nRetry-After: 99999999999999999999999\r\nDate: not a date\r\n"
                );
                sock.write_all(&response("200 OK", &extra, good_body(&path).as_bytes()))
                    .await?;
            }
            Hostile::Http10 => {
                let body = good_body(&path);
                sock.write_all(
                    format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}")
                        .as_bytes(),
                )
                .await?;
                return Ok(());
            }
            Hostile::RedirectLoop => {
                let extra = format!("Location: {path}\r\n");
                sock.write_all(&response("302 Found", &extra, b"")).await?;
            }
            Hostile::SilentAfterSetUp => {
                if path.ends_with(".login") || path.ends_with(".create_chat") {
                    sock.write_all(&response("200 OK", "", good_body(&path).as_bytes()))
                        .await?;
                } else {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
            Hostile::CloseEvery => unreachable!(),
        }
    }
    Ok(())
}
