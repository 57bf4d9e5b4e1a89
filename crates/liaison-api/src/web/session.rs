//! Browser sessions for the web UI.
//!
//! A person logs in with their API token once; the node answers with a
//! random session id in an `HttpOnly; SameSite=Strict` cookie and keeps
//! only its SHA-256, beside the SHA-256 of the token. Every request looks
//! the token up again, so a revoked token or a changed role takes effect
//! at once. Each session has its own CSRF token, which every form carries
//! in a hidden field and every POST must present (the `SameSite=Strict`
//! cookie is the first defence, the token the second).
//!
//! Sessions live in memory: they end when the node restarts, after
//! [`SESSION_LIFETIME`], or at logout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "liaison_session";
/// The login form's double-submit cookie (CSRF before a session exists).
pub const LOGIN_COOKIE: &str = "liaison_login";
/// How long a session lasts from login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// At most this many live sessions; logging in beyond it evicts the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    /// SHA-256 of the API token it logged in with (what the store holds).
    pub token_hash: String,
    /// The CSRF token its forms carry.
    pub csrf: String,
    created: Instant,
}

/// The live sessions, keyed by the SHA-256 of the session id.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// No sessions.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Open a session for `token_hash`; returns the session id (the
    /// cookie value), which is not kept.
    pub(crate) fn open(&self, token_hash: String) -> Result<Zeroizing<String>, getrandom::Error> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut live = self.lock();
        let now = Instant::now();
        live.retain(|_, s| now.duration_since(s.created) < SESSION_LIFETIME);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            {
                live.remove(&oldest);
            }
        }
        live.insert(
            digest(&id),
            Session {
                token_hash,
                csrf: csrf.to_string(),
                created: now,
            },
        );
        Ok(id)
    }

    /// The live session with this id.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let key = digest(id);
        let mut live = self.lock();
        match live.get(&key) {
            Some(s) if s.created.elapsed() < SESSION_LIFETIME => Some(s.clone()),
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }

    /// End the session with this id.
    pub(crate) fn close(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every change is one insert or remove), so keep going.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// 256 random bits as lowercase hex.
pub(crate) fn random_hex() -> Result<Zeroizing<String>, getrandom::Error> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(raw.as_mut())?;
    Ok(Zeroizing::new(HEXLOWER.encode(raw.as_ref())))
}

fn digest(s: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(s.as_bytes()))
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for `path`.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes the cookie.
pub(crate) fn clear_cookie(name: &str, path: &str) -> String {
    format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict")
}

/// Compare two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_open_find_and_close() {
        let sessions = Sessions::new();
        let id = sessions.open("hash".into()).unwrap();
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.token_hash, "hash");
        assert_eq!(s.csrf.len(), 64);
        assert!(sessions.get("not-a-session").is_none());
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; liaison_session_x=2; liaison_session=abc"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
