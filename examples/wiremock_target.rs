//! The wiremock front as a benchmark target (benches/serve.sh): starts
//! `start_mock` with get_messages effectively unlimited, seeds a Direct chat
//! with 20 messages, prints `URL TOKEN CHAT` and serves for at most the given
//! number of seconds (default 30), so it always stops by itself.

use chat_harness::client::{Client, ClientConfig};
use chat_harness::contract::Endpoint;
use chat_harness::reference::{start_mock, ServerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let cfg = ServerConfig::default().with_limit(Endpoint::GetMessages, 1_000_000_000);
    let (server, core) = start_mock(cfg).await;
    let accounts = core.accounts();
    let alice = accounts[0].credentials().expect("seeded token");
    let client = Client::new(ClientConfig::new(server.uri()))?;
    let chat = client
        .create_chat(&alice, "bench", &["bob@example.com"], "Direct")
        .await?
        .value;
    for i in 0..20 {
        client
            .send_message(&alice, &chat, &format!("message {i}"))
            .await?;
    }
    println!(
        "{} {}:{} {}",
        server.uri(),
        alice.api_key,
        alice.api_secret,
        chat
    );
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    Ok(())
}
