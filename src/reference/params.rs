//! Request parameters (ENV-1): the query string, plus a form-urlencoded or
//! JSON body, merged as Frappe's `form_dict` does (body wins). Malformed
//! percent-encodings, invalid UTF-8 and JSON that is not an object answer 400;
//! nothing here panics on any input.

use percent_encoding::percent_decode;
use serde_json::Value;

use super::error::ApiError;

/// The decoded parameters of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RequestParams(Vec<(String, String)>);

impl RequestParams {
    /// The last value given for `name` (later sources override earlier ones).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required, non-empty parameter (ENV-4: MandatoryError, 417).
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::mandatory(name)),
        }
    }

    /// An optional parameter; an empty value counts as absent (ENV-4b).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        json_rejected: bool,
    ) -> Result<RequestParams, ApiError> {
        let mut out = Vec::new();
        if let Some(q) = query {
            parse_urlencoded(q.as_bytes(), &mut out)?;
        }
        if body.is_empty() {
            return Ok(RequestParams(out));
        }
        let mime = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if mime == "application/json" || mime.ends_with("+json") {
            if json_rejected {
                return Err(ApiError::bad_request("JSON bodies are not supported"));
            }
            parse_json(body, &mut out)?;
        } else if mime.starts_with("multipart/") {
            return Err(ApiError::bad_request(
                "multipart bodies are not supported: send application/x-www-form-urlencoded or JSON",
            ));
        } else {
            parse_urlencoded(body, &mut out)?;
        }
        Ok(RequestParams(out))
    }
}

fn parse_urlencoded(input: &[u8], out: &mut Vec<(String, String)>) -> Result<(), ApiError> {
    for pair in input.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        out.push((decode(k)?, decode(v)?));
    }
    Ok(())
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    // A '%' not followed by two hex digits is malformed (percent_decode would
    // pass it through silently).
    let mut i = 0;
    while let Some(off) = plus[i..].iter().position(|b| *b == b'%') {
        let at = i + off;
        let ok = plus.len() >= at + 3
            && plus[at + 1].is_ascii_hexdigit()
            && plus[at + 2].is_ascii_hexdigit();
        if !ok {
            return Err(ApiError::bad_request("malformed percent-encoding"));
        }
        i = at + 3;
    }
    percent_decode(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_request("parameters are not valid UTF-8"))
}

fn parse_json(body: &[u8], out: &mut Vec<(String, String)>) -> Result<(), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the JSON body does not parse: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request("the JSON body is not an object"));
    };
    for (k, v) in map {
        let v = match v {
            Value::Null => continue,
            Value::String(s) => s,
            other => other.to_string(),
        };
        out.push((k, v));
    }
    Ok(())
}

/// What an `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthHeader<'a> {
    Absent,
    /// A key and secret (from `token KEY:SECRET` or `Basic base64(KEY:SECRET)`).
    Pair(String, String),
    /// Anything else: a wrong scheme, no colon, empty halves, bad base64.
    Malformed(&'a str),
}

/// Parses the header. The `token` scheme is accepted in any case, as is
/// `Basic` (Frappe accepts both); a doubled space or any whitespace inside the
/// credentials makes it malformed.
pub(crate) fn parse_auth(value: Option<&[u8]>) -> AuthHeader<'_> {
    let Some(raw) = value else {
        return AuthHeader::Absent;
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return AuthHeader::Malformed("");
    };
    let Some((scheme, cred)) = text.split_once(' ') else {
        return AuthHeader::Malformed(text);
    };
    let pair = if scheme.eq_ignore_ascii_case("token") {
        cred.to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        match base64::engine::general_purpose::STANDARD
            .decode(cred.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(p) => p,
            None => return AuthHeader::Malformed(text),
        }
    } else {
        return AuthHeader::Malformed(text);
    };
    match pair.split_once(':') {
        Some((k, s))
            if !k.is_empty() && !s.is_empty() && !pair.chars().any(char::is_whitespace) =>
        {
            AuthHeader::Pair(k.to_owned(), s.to_owned())
        }
        _ => AuthHeader::Malformed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_merge_body_wins() {
        let p = RequestParams::parse(
            Some("chat=A&limit=5"),
            Some("application/x-www-form-urlencoded"),
            b"chat=B&content=a+b%20c%26%3D",
            false,
        )
        .unwrap();
        assert_eq!(p.get("chat"), Some("B"));
        assert_eq!(p.get("limit"), Some("5"));
        assert_eq!(p.get("content"), Some("a b c&="));
    }

    #[test]
    fn json_bodies_stringify_non_strings() {
        let p = RequestParams::parse(
            None,
            Some("application/json; charset=utf-8"),
            br#"{"participants":["a@x","b@x"],"limit":5,"after":null}"#,
            false,
        )
        .unwrap();
        assert_eq!(p.get("participants"), Some(r#"["a@x","b@x"]"#));
        assert_eq!(p.get("limit"), Some("5"));
        assert_eq!(p.get("after"), None);
        assert!(RequestParams::parse(None, Some("application/json"), b"{}", true).is_err());
    }

    #[test]
    fn malformed_encodings_are_bad_requests() {
        for (q, body, ct) in [
            (Some("a=%zz"), &b""[..], None),
            (Some("a=%e2%82"), b"", None),
            (Some("a=%"), b"", None),
            (None, b"[1,2]", Some("application/json")),
            (None, b"{", Some("application/json")),
            (None, b"\xff=1", Some("application/x-www-form-urlencoded")),
            (None, b"x", Some("multipart/form-data; boundary=x")),
        ] {
            let e = RequestParams::parse(q, ct, body, false).unwrap_err();
            assert_eq!(e.status, 400, "{q:?} {body:?}");
        }
    }

    #[test]
    fn required_and_optional() {
        let p = RequestParams::parse(Some("chat=&after="), None, b"", false).unwrap();
        assert_eq!(p.required("chat").unwrap_err().exc_type, "MandatoryError");
        assert_eq!(p.optional("after"), None);
    }

    #[test]
    fn auth_headers() {
        use AuthHeader::*;
        let pair = |k: &str, s: &str| Pair(k.into(), s.into());
        assert_eq!(parse_auth(None), Absent);
        assert_eq!(parse_auth(Some(b"token k:s")), pair("k", "s"));
        assert_eq!(parse_auth(Some(b"Token k:s")), pair("k", "s"));
        assert_eq!(parse_auth(Some(b"Basic azpz")), pair("k", "s"));
        for bad in [
            &b"token ks"[..],
            b"token :s",
            b"token k:",
            b"token  k:s",
            b"Bearer k:s",
            b"k:s",
            b"Basic !!!",
            b"token k:s t",
            b"\xff\xfe",
        ] {
            assert!(matches!(parse_auth(Some(bad)), Malformed(_)), "{bad:?}");
        }
    }
}
