//! Rate-limit headers: any header lines (`name: value`, values as raw bytes)
//! and any body are read without panicking, and what is derived from them
//! (reset form, seconds until reset) too.
#![no_main]

use chat_harness::contract::RateLimitInfo;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let body = body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
    let info = RateLimitInfo::from_response(&headers, body.as_ref());
    for f in [&info.limit, &info.remaining, &info.reset, &info.retry_after] {
        let _ = f.describe();
        let _ = f.value();
    }
    for window in [0, 1, 60, u64::MAX] {
        let _ = info.reset_form(window);
        let _ = info.seconds_until_reset(window);
    }
});
