//! The wiremock front, for self-tests: a [`Respond`] implementation over the
//! core, mounted at the lowest priority so a test can mount its own mocks on
//! top to inject one-off misbehaviour. wiremock keeps a copy of every matched
//! request inside the mounted mock (several KB each, even with recording
//! disabled), so this front serves tests and short runs only; `serve` uses
//! the hyper front. wiremock answers one request at a time and gives no peer
//! address: login and signup are keyed as 127.0.0.1, and the defects that
//! need truly concurrent requests (racy-counter, lost-under-concurrency)
//! cannot show here.

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::config::ServerConfig;
use super::pipeline::{Core, CoreRequest};

/// The lowest wiremock priority: every other mock wins.
pub(crate) const REFERENCE_PRIORITY: u8 = u8::MAX;

/// Answers every request from a [`Core`].
#[derive(Clone)]
pub(crate) struct CoreResponder {
    core: Core,
}

impl CoreResponder {
    pub fn new(core: Core) -> Self {
        CoreResponder { core }
    }
}

impl Respond for CoreResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let response = self.core.handle_blocking(CoreRequest {
            method: &request.method,
            path: request.url.path(),
            query: request.url.query(),
            headers: &request.headers,
            body: &request.body,
            peer: None,
        });
        let (parts, body) = response.into_parts();
        let mut template = ResponseTemplate::new(parts.status.as_u16());
        for (name, value) in &parts.headers {
            template = template.append_header(name.clone(), value.clone());
        }
        // An empty mime keeps the Content-Type the core chose.
        template.set_body_raw(body.to_vec(), "")
    }
}

/// Starts a wiremock server answering from a new core built from `config`.
pub async fn start_mock(config: ServerConfig) -> (MockServer, Core) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let core = Core::new(config);
    Mock::given(any())
        .respond_with(CoreResponder::new(core.clone()))
        .with_priority(REFERENCE_PRIORITY)
        .mount(&server)
        .await;
    (server, core)
}
