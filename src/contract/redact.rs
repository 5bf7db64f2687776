//! Keeping secrets out of reports and logs: api_secret, passwords and the
//! secret half of `Authorization: token KEY:SECRET` are replaced by `***`
//! unless the user asked to see them.

use serde_json::Value;

/// What stands in for a secret.
pub const MASK: &str = "***";

/// Parameter and JSON keys whose values are secret.
pub fn is_secret_key(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "api_secret" | "pwd" | "password" | "new_password" | "secret"
    )
}

/// Where a JSON document carries a value under a secret-named key (the
/// exact names of [`is_secret_key`], any case), as paths such as
/// `$.message[0].api_secret`. Names that merely contain such a word
/// (`last_password_reset_date`, `secret_question_hint`) are not secret
/// keys, and a key whose value is null, empty, or a mask made only of `*`
/// (Frappe's rendering of a Password field) carries nothing.
pub fn secret_fields(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_secret_fields(value, "$", &mut out);
    out
}

fn walk_secret_fields(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}.{k}");
                if is_secret_key(k) && carries_value(v) {
                    out.push(here);
                } else {
                    walk_secret_fields(v, &here, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_secret_fields(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn carries_value(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.trim().is_empty() && !s.trim().bytes().all(|b| b == b'*'),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// `token KEY:SECRET` becomes `token KEY:***`; any other scheme's credentials
/// are masked whole.
pub fn authorization(value: &str) -> String {
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    match parts.next() {
        Some(cred) if scheme.eq_ignore_ascii_case("token") => match cred.split_once(':') {
            Some((key, _)) => format!("{scheme} {key}:{MASK}"),
            None => format!("{scheme} {MASK}"),
        },
        Some(_) => format!("{scheme} {MASK}"),
        None => MASK.to_owned(),
    }
}

/// Masks secret values anywhere in a JSON document.
pub fn json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(MASK.into());
                } else {
                    json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        _ => {}
    }
}

/// Masks secrets in a body given as text: JSON is masked key by key; any
/// other text has every occurrence of the known secrets replaced.
pub fn body_text(text: &str, known_secrets: &[&str]) -> String {
    if let Ok(mut v) = serde_json::from_str::<Value>(text) {
        json(&mut v);
        return v.to_string();
    }
    let mut out = text.to_owned();
    for s in known_secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_secret_half_only() {
        assert_eq!(authorization("token abc:def"), "token abc:***");
        assert_eq!(authorization("Basic YWJjOmRlZg=="), "Basic ***");
        assert_eq!(authorization("token nocolon"), "token ***");
        assert_eq!(authorization("garbage"), "***");
    }

    #[test]
    fn secret_fields_are_found_by_exact_name_with_a_value() {
        let v = serde_json::json!({"message": [
            {"name": "a", "last_password_reset_date": "2024-01-01", "secret_question": "x"},
            {"name": "b", "api_secret": "", "password": null, "pwd": "*****"},
            {"name": "c", "API_SECRET": "abc123def456"},
            {"name": "d", "nested": {"password": "hunter22"}},
        ]});
        assert_eq!(
            secret_fields(&v),
            ["$.message[2].API_SECRET", "$.message[3].nested.password"]
        );
        assert!(secret_fields(&serde_json::json!({"message": "ok"})).is_empty());
    }

    #[test]
    fn masks_nested_json_secrets() {
        let mut v = serde_json::json!({"message": {"api_key": "k", "api_secret": "s",
            "users": [{"password": "p"}]}});
        json(&mut v);
        assert_eq!(v["message"]["api_secret"], "***");
        assert_eq!(v["message"]["api_key"], "k");
        assert_eq!(v["message"]["users"][0]["password"], "***");
        assert_eq!(
            body_text("secret=hunter22 x", &["hunter22"]),
            "secret=*** x"
        );
    }
}
