//! What the client sends: an API key pair ([`Credentials`]), a request to
//! build ([`Request`]: endpoint or raw path, parameters, their encoding,
//! `Authorization`, extra headers), and the request as it went on the wire
//! ([`RequestRecord`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::redact;
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

/// An API key pair. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub api_key: String,
    pub api_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:***)", self.api_key)
    }
}

impl Credentials {
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Credentials {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
        }
    }

    /// The `Authorization` header value: `token KEY:SECRET`.
    pub fn header(&self) -> String {
        format!("token {}:{}", self.api_key, self.api_secret)
    }

    /// Parses `KEY:SECRET`.
    pub fn parse(s: &str) -> Option<Credentials> {
        let (k, v) = s.split_once(':')?;
        (!k.is_empty() && !v.is_empty()).then(|| Credentials::new(k, v))
    }
}

impl From<&LoginResult> for Credentials {
    fn from(r: &LoginResult) -> Self {
        Credentials::new(&r.api_key, &r.api_secret)
    }
}

/// What a request carries in `Authorization`.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Token(Credentials),
    /// A raw header value, for probing malformed headers (AUTH-5).
    Raw(String),
}

/// How parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// In the query string (GET, OPTIONS).
    Query,
    /// `application/x-www-form-urlencoded` body.
    Form,
    /// A JSON object body.
    Json,
}

/// One request to send; built from an endpoint or a raw path.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: http::Method,
    /// Absolute path on the server, e.g. `/api/method/frappe_chat.api.login`.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub encoding: Encoding,
    pub auth: Auth,
    /// Extra headers (Origin, X-Forwarded-For, ...).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A request to `endpoint` with its contract method and encoding.
    pub fn to(endpoint: Endpoint) -> Request {
        let (method, encoding) = match endpoint.method() {
            crate::contract::Method::Get => (http::Method::GET, Encoding::Query),
            crate::contract::Method::Post => (http::Method::POST, Encoding::Form),
        };
        Request {
            method,
            path: endpoint.path(),
            params: Vec::new(),
            encoding,
            auth: Auth::None,
            headers: Vec::new(),
        }
    }

    /// login with its two parameters.
    pub fn login(usr: impl Into<String>, pwd: impl Into<String>) -> Request {
        Request::to(Endpoint::Login)
            .param("usr", usr)
            .param("pwd", pwd)
    }

    /// signup with its three parameters.
    pub fn signup(
        email: impl Into<String>,
        password: impl Into<String>,
        full_name: impl Into<String>,
    ) -> Request {
        Request::to(Endpoint::Signup)
            .param("email", email)
            .param("password", password)
            .param("full_name", full_name)
    }

    pub fn param(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.params.push((k.into(), v.into()));
        self
    }

    pub fn token(mut self, c: &Credentials) -> Self {
        self.auth = Auth::Token(c.clone());
        self
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn method(mut self, m: http::Method, encoding: Encoding) -> Self {
        self.method = m;
        self.encoding = encoding;
        self
    }
}

/// The request as it went on the wire (secrets included: render it through
/// [`RequestRecord::redacted`] or [`Exchange::to_curl`] for reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    pub method: String,
    /// Full URL including the query string.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The parameters, decoded, in order.
    pub params: Vec<(String, String)>,
    /// The body as sent (form-encoded or JSON).
    pub body: Option<String>,
    #[serde(skip)]
    pub encoding: Option<&'static str>,
}

impl RequestRecord {
    pub(crate) fn build(base: &str, req: &Request) -> RequestRecord {
        let mut url = format!("{base}{}", req.path);
        let mut headers = Vec::new();
        match &req.auth {
            Auth::None => {}
            Auth::Token(c) => headers.push(("Authorization".into(), c.header())),
            Auth::Raw(v) => headers.push(("Authorization".into(), v.clone())),
        }
        headers.extend(req.headers.iter().cloned());
        let encoded = || {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(req.params.iter())
                .finish()
        };
        let (body, encoding) = match req.encoding {
            Encoding::Query => {
                if !req.params.is_empty() {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&encoded());
                }
                (None, None)
            }
            Encoding::Form => {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                (Some(encoded()), Some("form"))
            }
            Encoding::Json => {
                headers.push(("Content-Type".into(), "application/json".into()));
                let obj: serde_json::Map<String, Value> = req
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                (Some(Value::Object(obj).to_string()), Some("json"))
            }
        };
        RequestRecord {
            method: req.method.as_str().to_owned(),
            url,
            headers,
            params: req.params.clone(),
            body,
            encoding,
        }
    }

    /// A copy with passwords, secrets and the token's secret masked.
    pub fn redacted(&self) -> RequestRecord {
        let mask_params = |params: &[(String, String)]| -> Vec<(String, String)> {
            params
                .iter()
                .map(|(k, v)| {
                    let v = if redact::is_secret_key(k) {
                        redact::MASK.into()
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect()
        };
        let params = mask_params(&self.params);
        let secrets: Vec<&str> = self
            .params
            .iter()
            .filter(|(k, _)| redact::is_secret_key(k))
            .map(|(_, v)| v.as_str())
            .collect();
        let mut url = self.url.clone();
        if let Some((path, _)) = self.url.split_once('?') {
            if self.encoding.is_none() && !params.is_empty() {
                url = format!(
                    "{path}?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(params.iter())
                        .finish()
                );
            }
        }
        let body = match self.encoding {
            Some("form") => Some(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter())
                    .finish(),
            ),
            _ => self.body.as_ref().map(|b| redact::body_text(b, &secrets)),
        };
        RequestRecord {
            method: self.method.clone(),
            url,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("authorization") {
                        redact::authorization(v)
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
            params,
            body,
            encoding: self.encoding,
        }
    }
}
