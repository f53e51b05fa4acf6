//! UI sessions: after a login with an `admin` or `read` key, a cookie names the key by id, signed
//! with HMAC-SHA256 under a secret derived from the ledger signing key (so sessions survive a
//! restart and work across replicas sharing the key; the cookie never holds the API key's
//! secret). Every request re-reads the key: a revoked key's session
//! stops at once, and the key's tenant binding is the session's visibility.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use ml_audit_core::access::{AccessAction, Channel, Reader};
use ml_audit_core::auth::{ApiKey, KeyScope, Visibility};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use super::UiError;
use crate::access::AccessContext;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "mla_session";
/// How long a session lasts after login.
pub const SESSION_TTL: time::Duration = time::Duration::hours(8);

/// Signs and checks session tokens: `<key id>.<expiry, unix seconds>.<base64url HMAC>`.
pub struct SessionSigner {
    secret: [u8; 32],
}

impl SessionSigner {
    /// A signer with this secret; the server derives it from the ledger key, so sessions
    /// survive a restart and work on every replica that shares the key.
    pub fn new(secret: [u8; 32]) -> Arc<Self> {
        Arc::new(Self { secret })
    }

    /// A signer with a fresh secret from the operating system's random source.
    #[cfg(test)]
    pub fn random() -> Arc<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system's random source is available");
        Arc::new(Self { secret })
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        mac
    }

    pub fn token(&self, key_id: Uuid, expires: OffsetDateTime) -> String {
        let payload = format!("{}.{}", key_id.simple(), expires.unix_timestamp());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The key id of a token that this signer made and that has not expired at `now`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<Uuid> {
        let (payload, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let (id, expires) = payload.split_once('.')?;
        let expires = OffsetDateTime::from_unix_timestamp(expires.parse().ok()?).ok()?;
        (now < expires).then_some(())?;
        Uuid::try_parse(id).ok()
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(token: &str) -> HeaderValue {
    let cookie =
        format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.whole_seconds());
    HeaderValue::from_str(&cookie).expect("a token is ASCII")
}

/// The `Set-Cookie` value that ends a session.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("mla_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// A logged-in UI user: the key they logged in with, still active, and what it may see.
pub struct Session {
    pub key: ApiKey,
    pub visibility: Visibility,
    /// What an access entry of this page records: the session's key, the page, its query.
    pub access: AccessContext,
}

impl Session {
    /// Records that this page showed `predictions`.
    pub fn shown(&self, state: &AppState, predictions: Vec<Uuid>) {
        state.access.record(self.access.entry(AccessAction::Read, predictions));
    }

    pub fn is_tenant_bound(&self) -> bool {
        self.key.tenant_id.is_some()
    }

    /// Whether its key is an admin key: erasures and holds are shown to admins only.
    pub fn is_admin(&self) -> bool {
        self.key.scope.allows(KeyScope::Admin)
    }
}

/// Why a request has no session: it is sent to the login page, or gets an error page.
pub enum NoSession {
    Login { next: String, clear: bool },
    Failed(UiError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Login { next, clear } => {
                let location = if next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", percent_encoding::utf8_percent_encode(&next, super::QUERY_VALUE))
                };
                let mut response = (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response();
                if clear {
                    response.headers_mut().insert(SET_COOKIE, cleared_cookie());
                }
                response
            }
            NoSession::Failed(error) => error.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The UI is not nested, so this is the path the browser asked for.
        let next = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let signer = parts.extensions.get::<Arc<SessionSigner>>().expect("the UI router installs its signer");
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(NoSession::Login { next, clear: false });
        };
        let Some(key_id) = signer.verify(token, OffsetDateTime::now_utc()) else {
            return Err(NoSession::Login { next, clear: true });
        };
        let key = state.keys.get_api_key(key_id).await.map_err(|e| NoSession::Failed(e.into()))?;
        match key {
            Some(key) if key.revoked_at.is_none() && may_use_ui(key.scope) => {
                // A query that is not UTF-8 is answered with an error page, which shows nothing.
                let pairs = crate::query::query_pairs(parts.uri.query().map(str::to_owned)).unwrap_or_default();
                let access = AccessContext {
                    reader: Reader::key(&key),
                    channel: Channel::Ui,
                    route: crate::auth::routed(parts),
                    filters: AccessContext::filters(&state.redaction, pairs),
                };
                Ok(Session { visibility: key.visibility(), key, access })
            }
            _ => Err(NoSession::Login { next, clear: true }),
        }
    }
}

/// The UI reads: `admin` and `read` keys may use it, `ingest` keys may not.
pub fn may_use_ui(scope: KeyScope) -> bool {
    scope.allows(KeyScope::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_until_it_expires() {
        let signer = SessionSigner::random();
        let id = Uuid::now_v7();
        let now = OffsetDateTime::now_utc();
        let token = signer.token(id, now + SESSION_TTL);
        assert_eq!(signer.verify(&token, now), Some(id));
        assert_eq!(signer.verify(&token, now + SESSION_TTL - time::Duration::seconds(2)), Some(id));
        assert_eq!(signer.verify(&token, now + SESSION_TTL + time::Duration::seconds(1)), None, "expired");
    }

    #[test]
    fn a_changed_or_foreign_token_is_refused() {
        let signer = SessionSigner::random();
        let now = OffsetDateTime::now_utc();
        let token = signer.token(Uuid::now_v7(), now + SESSION_TTL);
        let (id, rest) = token.split_once('.').unwrap();
        let other_id = Uuid::now_v7().simple().to_string();
        assert_eq!(signer.verify(&format!("{other_id}.{rest}"), now), None, "another key id");
        let (payload, tag) = token.rsplit_once('.').unwrap();
        let later = (now + time::Duration::days(365)).unix_timestamp();
        assert_eq!(signer.verify(&format!("{id}.{later}.{tag}"), now), None, "a later expiry");
        assert_eq!(signer.verify(&format!("{payload}.AAAA"), now), None, "another tag");
        assert_eq!(SessionSigner::random().verify(&token, now), None, "another process's secret");
        assert_eq!(signer.verify("", now), None);
        assert_eq!(signer.verify("a.b.c.d", now), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let cookie = session_cookie("t");
        let text = cookie.to_str().unwrap();
        assert!(text.starts_with("mla_session=t;") && text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(cleared_cookie().to_str().unwrap().contains("Max-Age=0"));
    }
}
