//! Timestamps as a server writes them: parsing any text never panics, and a
//! parsed one reads back equal from its own text and from its ISO form.
#![no_main]

use chat_harness::contract::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Timestamp::parse(text) {
        let again = Timestamp::parse(t.as_str()).expect("its own text parses");
        assert_eq!(again, t);
        let iso = t.to_iso();
        if let Ok(back) = Timestamp::parse(&iso.replacen('T', " ", 1)) {
            assert_eq!(back, t, "{text:?} -> {iso:?}");
        }
        let _ = serde_json::to_string(&t);
    }
    let _ = serde_json::from_value::<Timestamp>(serde_json::Value::String(text.to_owned()));
});
