//! `call`'s memory of a user's token pair, so that calls in a row do not each
//! spend a login (10 a minute in the design: the 11th call would fail). One
//! file per target and user under `$XDG_CACHE_HOME/chat-harness/tokens/`
//! (or `~/.cache/...`), mode 0600 in a 0700 folder; it names the target and
//! the user it is for and is used for nothing else. Never printed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::Credentials;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CachedPair {
    target: String,
    email: String,
    api_key: String,
    api_secret: String,
}

/// The cache folder: `$XDG_CACHE_HOME/chat-harness/tokens`, else
/// `$HOME/.cache/chat-harness/tokens`; None when neither is set (absolute).
pub(crate) fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("chat-harness").join("tokens"))
}

/// The target as the cache keys it: no trailing slash.
fn key(target: &str) -> &str {
    target.trim_end_matches('/')
}

/// The file of `email` on `target`: a readable name, letters, digits and
/// `.@-` kept, anything else `_` (the file itself says whom it is for).
pub(crate) fn path(dir: &Path, target: &str, email: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    dir.join(format!("{}__{}.toml", clean(key(target)), clean(email)))
}

/// The pair kept for `email` on `target`, if one is (and is that user's).
pub(crate) fn load(dir: &Path, target: &str, email: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(path(dir, target, email)).ok()?;
    let e: CachedPair = toml::from_str(&text).ok()?;
    (e.target == key(target) && e.email == email).then(|| Credentials::new(e.api_key, e.api_secret))
}

/// Keeps the pair, readable by the owner only.
pub(crate) fn store(
    dir: &Path,
    target: &str,
    email: &str,
    creds: &Credentials,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let text = toml::to_string(&CachedPair {
        target: key(target).to_owned(),
        email: email.to_owned(),
        api_key: creds.api_key.clone(),
        api_secret: creds.api_secret.clone(),
    })
    .map_err(std::io::Error::other)?;
    let file = path(dir, target, email);
    let tmp = file.with_extension("toml.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    {
        use std::io::Write;
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(
            format!("# chat-harness call: a token pair, keep private.\n{text}").as_bytes(),
        )?;
    }
    std::fs::rename(&tmp, &file)
}

/// Forgets the pair (the server refused it).
pub(crate) fn forget(dir: &Path, target: &str, email: &str) {
    let _ = std::fs::remove_file(path(dir, target, email));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_pair_per_target_and_user_privately() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tokens");
        let c = Credentials::new("k".to_owned(), "s".to_owned());
        store(&d, "http://127.0.0.1:8000/", "a@x", &c).unwrap();
        assert_eq!(load(&d, "http://127.0.0.1:8000", "a@x"), Some(c));
        assert_eq!(load(&d, "http://127.0.0.1:8001", "a@x"), None);
        assert_eq!(load(&d, "http://127.0.0.1:8000", "b@x"), None);
        let file = path(&d, "http://127.0.0.1:8000", "a@x");
        assert_eq!(
            file.file_name().unwrap().to_str().unwrap(),
            "http___127.0.0.1_8000__a@x.toml"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&d), 0o700);
        }
        forget(&d, "http://127.0.0.1:8000", "a@x");
        assert_eq!(load(&d, "http://127.0.0.1:8000", "a@x"), None);
    }
}
