//! Per-user HTTP clients, cheaply. A real device has its own connection, so
//! each simulated user gets its own reqwest client (its own pool of one
//! connection). Building a client the default way loads the platform's
//! certificate store every time (measured here: 3.2 ms and 105 KB per
//! client). Instead one rustls configuration is built per run and every
//! client gets a clone of it (reference-counted inside): for an https target
//! with the platform's verifier, for a plain-http one with an empty root
//! store that is never used.
//!
//! Loopback targets get the users' source addresses spread over
//! 127.0.0.0/8 (one address per 1,000 users): a server that closes every
//! connection after one answer (Frappe answers `Connection: close`) leaves
//! a TIME_WAIT socket per request, and one source address runs out of
//! ephemeral ports at a few hundred requests per second sustained.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Users per loopback source address.
const USERS_PER_ADDRESS: u32 = 1000;

#[derive(Debug, Clone)]
pub(crate) struct ClientFactory {
    timeout: Duration,
    spread: bool,
    /// Shared by every client; None: let reqwest build its own (slow path).
    tls: Option<rustls::ClientConfig>,
}

/// The one TLS configuration of a run.
fn tls_config(https: bool) -> Option<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?;
    let mut config = if https {
        let verifier = rustls_platform_verifier::Verifier::new(provider).ok()?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

impl ClientFactory {
    /// `base_url`'s host decides whether source addresses can be spread.
    pub(crate) fn new(base_url: &str, timeout: Duration) -> ClientFactory {
        let parsed = url::Url::parse(base_url).ok();
        let https = parsed.as_ref().is_some_and(|u| u.scheme() == "https");
        let host = parsed.and_then(|u| u.host_str().map(str::to_owned));
        let loopback = host.as_deref().is_some_and(|h| {
            h == "localhost" || h.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        });
        ClientFactory {
            timeout,
            // Linux routes all of 127/8 to lo; elsewhere only 127.0.0.1 is up.
            spread: loopback && cfg!(target_os = "linux"),
            tls: tls_config(https),
        }
    }

    /// The source address of `user`, when spread.
    pub(crate) fn source_address(&self, user: u32) -> Option<IpAddr> {
        if !self.spread {
            return None;
        }
        let n = user / USERS_PER_ADDRESS + 1; // 127.0.0.1, 127.0.0.2, ...
        let [_, a, b, c] = n.to_be_bytes();
        Some(IpAddr::V4(Ipv4Addr::new(127, a, b, c.max(1))))
    }

    /// A client of `user`'s own: at most one idle connection, no redirects,
    /// no proxies, no cookies.
    pub(crate) fn client(&self, user: u32) -> reqwest::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true);
        if let Some(addr) = self.source_address(user) {
            b = b.local_address(addr);
        }
        if let Some(tls) = &self.tls {
            b = b.tls_backend_preconfigured(tls.clone());
        }
        b.build()
    }
}

/// Open files a run of `users` needs: a connection each, plus the process's own.
pub(crate) fn files_needed(users: usize) -> u64 {
    users as u64 + 256
}

/// Raises the soft limit of open files towards `needed` (up to the hard
/// limit) and returns the limit in force. Each user holds a connection: past
/// the limit connects fail with EMFILE and show up as requests without an
/// answer (measured: 20,000 users against a limit of 20,000).
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub(crate) fn raise_open_files(needed: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if (lim.rlim_cur as u64) < needed {
            let want = lim.rlim_max.min(needed as libc::rlim_t);
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = want;
            }
        }
    }
    Some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
pub(crate) fn raise_open_files(_needed: u64) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_are_spread() {
        let f = ClientFactory::new("http://127.0.0.1:8000", Duration::from_secs(1));
        if cfg!(target_os = "linux") {
            assert_eq!(f.source_address(0), Some("127.0.0.1".parse().unwrap()));
            assert_eq!(f.source_address(1500), Some("127.0.0.2".parse().unwrap()));
            assert_eq!(
                f.source_address(255_000),
                Some("127.0.1.1".parse().unwrap())
            );
        }
        let remote = ClientFactory::new("https://chat.example.com", Duration::from_secs(1));
        assert_eq!(remote.source_address(5000), None);
    }
}
