//! Frappe's response envelopes. Success: a JSON object with the result under
//! `message` (ENV-2). Error: a JSON object with `exc_type` and optional
//! `exception`, `exc`, `message` and `_server_messages` (ENV-3), the last a
//! JSON string holding a list of JSON strings: it is decoded twice, and every
//! way that can go wrong is recorded rather than fatal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Frappe exception classes the contract names, with their statuses.
pub const ERROR_CLASSES: &[(&str, u16)] = &[
    ("AuthenticationError", 401),
    ("PermissionError", 403),
    ("DoesNotExistError", 404),
    ("DuplicateEntryError", 409),
    ("ValidationError", 417),
    ("MandatoryError", 417),
    ("TooManyRequestsError", 429),
];

/// An error envelope as decoded from a response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The exception class, e.g. `PermissionError`; empty when absent.
    pub exc_type: String,
    /// The `exception` text, if any.
    pub exception: Option<String>,
    /// The `message` key, if a string.
    pub message: Option<String>,
    /// `exc` decoded to the list of tracebacks it encodes, if it did decode.
    pub exc: Vec<String>,
    /// The `message` of each entry of `_server_messages`, decoded twice.
    pub server_messages: Vec<String>,
    /// What did not decode as the contract says (left empty when all did).
    pub problems: Vec<String>,
}

impl ErrorEnvelope {
    /// Decodes an error body. `None` when the body is not a JSON object.
    pub fn from_body(body: &[u8]) -> Option<ErrorEnvelope> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Self::from_value(&value)
    }

    /// Decodes an already-parsed body. `None` when it is not an object.
    pub fn from_value(value: &Value) -> Option<ErrorEnvelope> {
        let obj = value.as_object()?;
        let mut env = ErrorEnvelope::default();
        match obj.get("exc_type") {
            Some(Value::String(s)) => env.exc_type = s.clone(),
            Some(other) => env
                .problems
                .push(format!("exc_type is not a string: {}", excerpt(other))),
            None => env.problems.push("exc_type is missing".into()),
        }
        env.exception = obj
            .get("exception")
            .and_then(Value::as_str)
            .map(str::to_owned);
        env.message = obj
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(exc) = obj.get("exc") {
            match exc
                .as_str()
                .map(serde_json::from_str::<Vec<String>>)
                .transpose()
            {
                Ok(Some(list)) => env.exc = list,
                _ => env
                    .problems
                    .push("exc is not a JSON-encoded list of strings".into()),
            }
        }
        if let Some(sm) = obj.get("_server_messages") {
            decode_server_messages(sm, &mut env);
        }
        Some(env)
    }

    /// The status the contract gives this class, if it names it.
    pub fn expected_status(&self) -> Option<u16> {
        ERROR_CLASSES
            .iter()
            .find(|(name, _)| *name == self.exc_type)
            .map(|(_, s)| *s)
    }

    /// A one-line description for reports: class and the most telling text.
    pub fn summary(&self) -> String {
        let text = self
            .server_messages
            .first()
            .or(self.exception.as_ref())
            .or(self.message.as_ref());
        match (self.exc_type.is_empty(), text) {
            (false, Some(t)) => format!("{}: {}", self.exc_type, t),
            (false, None) => self.exc_type.clone(),
            (true, Some(t)) => format!("(no exc_type): {t}"),
            (true, None) => "(no exc_type)".into(),
        }
    }
}

fn decode_server_messages(sm: &Value, env: &mut ErrorEnvelope) {
    let Some(outer) = sm.as_str() else {
        env.problems
            .push("_server_messages is not a JSON string".into());
        return;
    };
    let list: Vec<Value> = match serde_json::from_str(outer) {
        Ok(Value::Array(items)) => items,
        _ => {
            env.problems
                .push("_server_messages does not hold a JSON list".into());
            return;
        }
    };
    for (i, item) in list.iter().enumerate() {
        // Each entry should itself be a JSON string encoding an object.
        let inner = match item {
            Value::String(s) => serde_json::from_str::<Value>(s).ok(),
            _ => None,
        };
        match inner
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(Value::as_str)
        {
            Some(m) => env.server_messages.push(m.to_owned()),
            None => env.problems.push(format!(
                "_server_messages[{i}] is not a JSON string holding an object with a message"
            )),
        }
    }
}

fn excerpt(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.floor_char_boundary(60)])
    } else {
        s
    }
}

/// Builds the error body the reference server sends, in Frappe's shape.
pub fn error_body(exc_type: &str, message: &str) -> Value {
    let entry = serde_json::json!({ "message": message, "title": "Message", "indicator": "red" })
        .to_string();
    let server_messages = serde_json::to_string(&vec![entry]).unwrap_or_default();
    serde_json::json!({
        "exc_type": exc_type,
        "exception": format!("frappe.exceptions.{exc_type}: {message}"),
        "_server_messages": server_messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_server_messages_twice() {
        let body = error_body("PermissionError", "Not a participant");
        let env = ErrorEnvelope::from_value(&body).unwrap();
        assert_eq!(env.exc_type, "PermissionError");
        assert_eq!(env.server_messages, vec!["Not a participant".to_string()]);
        assert!(env.problems.is_empty(), "{:?}", env.problems);
        assert_eq!(env.expected_status(), Some(403));
        assert_eq!(env.summary(), "PermissionError: Not a participant");
    }

    #[test]
    fn survives_malformed_server_messages() {
        let cases = [
            serde_json::json!({"exc_type": "X", "_server_messages": 5}),
            serde_json::json!({"exc_type": "X", "_server_messages": "not json"}),
            serde_json::json!({"exc_type": "X", "_server_messages": "{\"a\":1}"}),
            serde_json::json!({"exc_type": "X", "_server_messages": "[1, \"nope\", \"{}\"]"}),
        ];
        for c in cases {
            let env = ErrorEnvelope::from_value(&c).unwrap();
            assert_eq!(env.exc_type, "X");
            assert!(env.server_messages.is_empty());
            assert!(!env.problems.is_empty(), "{c} gave no problem");
        }
    }

    #[test]
    fn decodes_exc_and_notes_missing_exc_type() {
        let body = serde_json::json!({"exc": "[\"Traceback...\"]", "message": "boom"});
        let env = ErrorEnvelope::from_value(&body).unwrap();
        assert_eq!(env.exc, vec!["Traceback...".to_string()]);
        assert_eq!(env.problems, vec!["exc_type is missing".to_string()]);
        assert_eq!(env.summary(), "(no exc_type): boom");
        let bad = serde_json::json!({"exc_type": 3, "exc": [1]});
        let env = ErrorEnvelope::from_value(&bad).unwrap();
        assert_eq!(env.problems.len(), 2);
    }

    #[test]
    fn non_objects_are_not_envelopes() {
        assert!(ErrorEnvelope::from_body(b"[1,2]").is_none());
        assert!(ErrorEnvelope::from_body(b"\xff\xfe").is_none());
        assert!(ErrorEnvelope::from_body(b"").is_none());
    }
}
