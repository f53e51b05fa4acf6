//! API keys, scopes and the tenant visibility that every read and write is filtered through.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::text_enum_impls;

/// What a key may do. `admin` includes everything `ingest` and `read` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// The POSTs: record predictions, attach explanations.
    Ingest,
    /// The GETs of `/api/v1`.
    Read,
    /// Everything, plus `/metrics` and the admin UI.
    Admin,
}

text_enum_impls!(KeyScope { Ingest => "ingest", Read => "read", Admin => "admin" });

impl KeyScope {
    pub fn allows(self, needed: KeyScope) -> bool {
        self == KeyScope::Admin || self == needed
    }
}

/// Which predictions a caller may see or write. Backends apply it in every query they run, so a
/// handler cannot forget it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    AllTenants,
    /// Only predictions whose actor has this `tenant_id`.
    Tenant(String),
}

impl Visibility {
    pub fn permits_tenant(&self, tenant_id: &str) -> bool {
        match self {
            Visibility::AllTenants => true,
            Visibility::Tenant(own) => own == tenant_id,
        }
    }

    pub fn tenant(&self) -> Option<&str> {
        match self {
            Visibility::AllTenants => None,
            Visibility::Tenant(own) => Some(own),
        }
    }
}

/// A stored API key: everything but the secret, of which only a SHA-256 hash is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub scope: KeyScope,
    pub tenant_id: Option<String>,
    /// The first characters of the secret, to recognise a key in `keys list`.
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    pub fn visibility(&self) -> Visibility {
        match &self.tenant_id {
            None => Visibility::AllTenants,
            Some(tenant) => Visibility::Tenant(tenant.clone()),
        }
    }
}

/// A freshly generated key: the record to store, its hash, and the secret to show once.
pub struct IssuedKey {
    pub key: ApiKey,
    pub hash: KeyHash,
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").field("key", &self.key).finish_non_exhaustive()
    }
}

/// SHA-256 of a key's secret, hex-encoded. Secrets carry 256 random bits, so a fast hash is
/// enough: there is nothing to brute-force, unlike a password.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(pub String);

const SECRET_PREFIX: &str = "mla_";

impl KeyHash {
    pub fn of(secret: &str) -> Self {
        KeyHash(hex::encode(Sha256::digest(secret.as_bytes())))
    }
}

/// Generates a new key with 256 bits from the operating system's random source.
pub fn issue_key(name: &str, scope: KeyScope, tenant_id: Option<String>) -> IssuedKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let secret = format!("{SECRET_PREFIX}{}", hex::encode(bytes));
    IssuedKey {
        hash: KeyHash::of(&secret),
        key: ApiKey {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            scope,
            tenant_id,
            prefix: secret[..SECRET_PREFIX.len() + 8].to_owned(),
            created_at: crate::timestamp::now(),
            revoked_at: None,
        },
        secret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_other_scopes_only_themselves() {
        assert!(KeyScope::Admin.allows(KeyScope::Read) && KeyScope::Admin.allows(KeyScope::Ingest));
        assert!(KeyScope::Read.allows(KeyScope::Read) && !KeyScope::Read.allows(KeyScope::Ingest));
        assert!(!KeyScope::Ingest.allows(KeyScope::Read) && !KeyScope::Ingest.allows(KeyScope::Admin));
    }

    #[test]
    fn issued_keys_are_unique_and_only_their_hash_matches() {
        let a = issue_key("a", KeyScope::Read, None);
        let b = issue_key("b", KeyScope::Read, None);
        assert_ne!(a.secret, b.secret);
        assert_eq!(KeyHash::of(&a.secret), a.hash);
        assert_ne!(KeyHash::of(&b.secret), a.hash);
        assert!(a.secret.starts_with(&a.key.prefix));
        assert!(!a.hash.0.contains(&a.secret[4..]));
    }

    #[test]
    fn tenant_visibility_permits_only_its_tenant() {
        let acme = Visibility::Tenant("acme".into());
        assert!(acme.permits_tenant("acme") && !acme.permits_tenant("globex") && !acme.permits_tenant(""));
        assert!(Visibility::AllTenants.permits_tenant("anything"));
    }
}
