//! The typed client against wiremock servers: contract shapes decode, and
//! hostile answers become the right error within the timeout.

use std::time::{Duration, Instant};

use chat_harness::client::{Client, ClientConfig, ClientError, Credentials};
use chat_harness::contract::Endpoint;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer, timeout: Duration) -> Client {
    let mut config = ClientConfig::new(server.uri());
    config.timeout = timeout;
    config.body_cap = 64 * 1024;
    Client::new(config).unwrap()
}

fn creds() -> Credentials {
    Credentials::new("k1", "s1")
}

#[tokio::test]
async fn decodes_contract_shapes_and_sends_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(Endpoint::GetMessages.path()))
        .and(header("authorization", "token k1:s1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "200")
                .insert_header("X-RateLimit-Remaining", "199")
                .insert_header("X-RateLimit-Reset", "60")
                .set_body_json(serde_json::json!({"message": [
                    {"name": "m1", "sender": "a@x", "content": "hi", "message_type": "text",
                     "creation": "2024-01-01 10:00:00.000001", "is_read": 0}
                ]})),
        )
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_secs(5));
    let r = c
        .get_messages(&creds(), "CHAT-1", Some("2024-01-01 09:00:00.5"), Some(10))
        .await
        .unwrap();
    assert_eq!(r.value.len(), 1);
    assert_eq!(r.value[0].creation.as_str(), "2024-01-01 10:00:00.000001");
    assert_eq!(r.exchange.rate_limit().remaining.value(), Some(199));
    let q = r.exchange.request.url;
    assert!(q.contains("after=2024-01-01+09%3A00%3A00.5"), "{q}");
    assert!(q.contains("limit=10"), "{q}");
}

#[tokio::test]
async fn error_answers_carry_the_decoded_envelope() {
    let server = MockServer::start().await;
    Mock::given(path(Endpoint::Login.path()))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            chat_harness::contract::envelope::error_body(
                "AuthenticationError",
                "Invalid login credentials",
            ),
        ))
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_secs(5))
        .login("a@x", "bad")
        .await
        .unwrap_err();
    let ClientError::Api { envelope, exchange } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(exchange.status, 401);
    assert_eq!(
        envelope.as_ref().unwrap().server_messages,
        vec!["Invalid login credentials"]
    );
    assert!(!exchange.to_curl(false).contains("bad"));
    assert!(
        err.to_string()
            .contains("AuthenticationError: Invalid login credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn hostile_answers_give_the_right_error() {
    let server = MockServer::start().await;
    let routes: [(&str, ResponseTemplate); 5] = [
        (
            "garbage",
            ResponseTemplate::new(200).set_body_bytes(vec![0xff, 0xfe, 0x00, 0x9c]),
        ),
        (
            "shape",
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"message": [{"name": 5}]})),
        ),
        (
            "no_message",
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": []})),
        ),
        (
            "array",
            ResponseTemplate::new(200).set_body_json(serde_json::json!([1, 2])),
        ),
        (
            "huge",
            ResponseTemplate::new(200).set_body_bytes(vec![b' '; 200 * 1024]),
        ),
    ];
    for (name, template) in routes {
        Mock::given(path(format!("/api/method/frappe_chat.api.{name}")))
            .respond_with(template)
            .mount(&server)
            .await;
    }
    let c = client(&server, Duration::from_secs(5));
    let get = |name: &str| {
        let mut req = chat_harness::client::Request::to(Endpoint::GetUsers).token(&creds());
        req.path = format!("/api/method/frappe_chat.api.{name}");
        req
    };
    type Users = Vec<chat_harness::contract::wire::User>;
    let e = c.call::<Users>(&get("garbage")).await.unwrap_err();
    assert!(matches!(e, ClientError::NotJson { .. }), "{e}");
    let e = c.call::<Users>(&get("shape")).await.unwrap_err();
    match &e {
        ClientError::Shape { path, .. } => assert_eq!(path, "$.message[0].name"),
        other => panic!("{other}"),
    }
    let e = c.call::<Users>(&get("no_message")).await.unwrap_err();
    assert!(e.to_string().contains("no \"message\" key"), "{e}");
    let e = c.call::<Users>(&get("array")).await.unwrap_err();
    assert!(matches!(e, ClientError::Shape { .. }), "{e}");
    let e = c.call::<Users>(&get("huge")).await.unwrap_err();
    assert!(
        matches!(e, ClientError::BodyTooLarge { cap: 65536, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let e = client(&server, timeout)
        .get_chats(&creds())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
    // Bounded: well under the server's 30 s delay (not a timing assertion on speed).
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(ClientConfig::new(format!("http://{addr}"))).unwrap();
    let e = c.get_chats(&creds()).await.unwrap_err();
    assert!(matches!(e, ClientError::ConnectionRefused { .. }), "{e}");
    assert!(e.is_transport());
}

#[tokio::test]
async fn a_trickling_server_is_cut_by_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{")
            .await;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if sock.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.timeout = Duration::from_millis(400);
    let e = Client::new(config)
        .unwrap()
        .get_chats(&creds())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
    server.abort();
}
