//! Success bodies: any bytes under any status, decoded through the client's
//! exchange as every endpoint's result type, and shown as the tool shows them
//! (excerpt, curl, envelope, rate limits). Never a panic.
#![no_main]

use std::time::Duration;

use chat_harness::client::{Exchange, RequestRecord};
use chat_harness::contract::wire::{
    ChatSummary, LoginResult, Message, Participant, SentMessage, User,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (100 + u16::from(*s) * 2, rest),
        None => (200, data),
    };
    let exchange = Exchange {
        request: RequestRecord {
            method: "GET".into(),
            url: "http://127.0.0.1:1/api/method/frappe_chat.api.get_messages?chat=C".into(),
            headers: vec![("Authorization".into(), "token k:s".into())],
            params: vec![("chat".into(), "C".into())],
            body: None,
            encoding: None,
        },
        status,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::copy_from_slice(body),
        elapsed: Duration::from_millis(1),
    };
    let _ = exchange.decode::<LoginResult>().map_err(|e| e.to_string());
    let _ = exchange
        .decode::<Vec<ChatSummary>>()
        .map_err(|e| e.to_string());
    let _ = exchange.decode::<String>().map_err(|e| e.to_string());
    let _ = exchange.decode::<Vec<Message>>().map_err(|e| e.to_string());
    let _ = exchange.decode::<SentMessage>().map_err(|e| e.to_string());
    let _ = exchange
        .decode::<Vec<Participant>>()
        .map_err(|e| e.to_string());
    let _ = exchange.decode::<Vec<User>>().map_err(|e| e.to_string());
    let _ = exchange.decode_unit().map_err(|e| e.to_string());
    let _ = exchange.envelope().map(|e| e.summary());
    let _ = exchange.rate_limit();
    let _ = exchange.body_excerpt(100, false);
    let _ = exchange.body_excerpt(3, true);
    let _ = exchange.to_curl(false);
});
