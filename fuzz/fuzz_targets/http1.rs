//! load's own HTTP/1.1 client (`load/http1.rs`): any bytes as a server's
//! answer, written in two pieces (the first input byte says where to cut),
//! then the connection closed. `Conn::call` must not panic or hang, must
//! return no status or a final one (an interim 1xx is never the answer),
//! never a body over its 8 MiB cap, and after no answer the same `Conn`
//! must read the next one (a plain 200 on a new connection). Loopback only.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use chat_harness::contract::Endpoint;
use chat_harness::load::transport::Call;
use chat_harness::load::http1::{Conn, Origin};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext";
const GET: Call<'static> = Call {
    endpoint: Endpoint::GetChats,
    params: &[],
    auth: "token k:s",
};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Accepts one connection, reads the request, writes `pieces`, closes.
async fn answer(l: &TcpListener, pieces: [&[u8]; 2]) {
    let Ok((mut s, _)) = l.accept().await else {
        return;
    };
    let mut b = [0u8; 4096];
    let _ = s.read(&mut b).await;
    for p in pieces {
        if s.write_all(p).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    let _ = s.shutdown().await;
}

fuzz_target!(|data: &[u8]| {
    let (cut, bytes) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c).min(rest.len()), rest.to_vec()),
        None => (0, Vec::new()),
    };
    runtime().block_on(async {
        // A listener of its own: nothing left over from another input.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            answer(&l, [&bytes[..cut], &bytes[cut..]]).await;
            answer(&l, [NEXT, b""]).await;
        });
        let target = Origin::new(&format!("http://{addr}"), Duration::from_secs(3)).unwrap();
        let mut c = Conn::new(target, None);
        let first = c.call(&GET).await;
        if let Some(s) = first.status {
            assert!(s < 1000 && !(100..200).contains(&s), "status {s}");
        } else {
            assert!(first.body.is_empty(), "a body without an answer");
        }
        assert!(first.body.len() <= 8 << 20);
        let second = c.call(&GET).await;
        // After no answer the connection is dropped, so the next call is a
        // new connection and reads the next answer. After an answer, what
        // else the server wrote on that connection may be read instead.
        if first.status.is_none() {
            assert_eq!(
                (second.status, &second.body[..]),
                (Some(200), &b"next"[..]),
                "the call after no answer"
            );
        }
        server.abort();
    });
});
