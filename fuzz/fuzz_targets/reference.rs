//! The reference server's request handling: any method, path, query, headers
//! and body reach `Core::handle` without a panic, and every answer is an
//! HTTP status with a JSON body (or none). Fields are separated by NUL:
//! `METHOD\0PATH\0QUERY\0HEADER LINES\0BODY`. A path starting with a digit
//! selects an endpoint (so the fuzzer need not guess the prefix), and a
//! header line `auth` is replaced by a valid token of a seeded user, so that
//! the authenticated handlers are reached too.
#![no_main]

use std::cell::RefCell;

use chat_harness::contract::Endpoint;
use chat_harness::reference::{Core, CoreRequest, ServerConfig};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// A fresh server every few thousand inputs, so that state stays small.
    static CORE: RefCell<(u32, Option<(Core, String)>)> = const { RefCell::new((0, None)) };
}

fn core() -> (Core, String) {
    CORE.with(|c| {
        let mut c = c.borrow_mut();
        c.0 += 1;
        if c.0 % 5000 == 1 || c.1.is_none() {
            let mut cfg = ServerConfig::default();
            for e in Endpoint::LIMITED {
                cfg = cfg.without_limit(e);
            }
            let core = Core::new(cfg);
            let a = &core.accounts()[0];
            let token = format!(
                "token {}:{}",
                a.api_key.clone().unwrap_or_default(),
                a.api_secret.clone().unwrap_or_default()
            );
            c.1 = Some((core, token));
        }
        c.1.clone().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |&b| b == 0);
    let method = parts.next().unwrap_or_default();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = parts
        .next()
        .map(|q| String::from_utf8_lossy(q).into_owned());
    let head = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let Ok(method) = Method::from_bytes(if method.is_empty() { b"GET" } else { method }) else {
        return;
    };
    let path = match path.as_bytes().first() {
        Some(d @ b'0'..=b'8') => {
            let e = Endpoint::ALL[usize::from(d - b'0') % Endpoint::ALL.len()];
            format!("{}{}", e.path(), &path[1..])
        }
        _ => path,
    };
    let (core, token) = core();
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        if line == b"auth" {
            headers.insert("authorization", HeaderValue::from_str(&token).unwrap());
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(n, v);
        }
    }
    let resp = core.handle_blocking(CoreRequest {
        method: &method,
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        body,
        peer: None,
    });
    let status = resp.status().as_u16();
    assert!((200..600).contains(&status));
    assert_ne!(
        status / 100,
        5,
        "a 5xx for {method} {path:?}: {:?}",
        resp.body()
    );
    let b = resp.body();
    if !b.is_empty() {
        serde_json::from_slice::<serde_json::Value>(b).expect("a JSON body");
    }
});
