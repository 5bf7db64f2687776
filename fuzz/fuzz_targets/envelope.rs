//! The Frappe error envelope and its twice-encoded `_server_messages`, from
//! any bytes a server might send as an error body.
#![no_main]

use chat_harness::contract::ErrorEnvelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(env) = ErrorEnvelope::from_body(data) {
        let _ = env.summary();
        let _ = env.expected_status();
    }
    // The same text as the value of `_server_messages`, where it is a string.
    if let Ok(text) = std::str::from_utf8(data) {
        let body = serde_json::json!({ "exc_type": "ValidationError", "_server_messages": text, "exc": text });
        let env = ErrorEnvelope::from_value(&body).expect("an object is an envelope");
        let _ = env.summary();
    }
});
