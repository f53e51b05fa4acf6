//! Keyed pseudonyms for the `hash` action: `pii_` and the first 128 bits of HMAC-SHA256(key,
//! canonical value), in hex. The same value gives the same token under one key, so predictions
//! about one person can be grouped and looked up; without the key a token reveals nothing and
//! cannot be recomputed from a guessed value.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::HashKey;
use super::detectors::{self, Kinds};

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "pii_";
/// Hex digits after the prefix (128 bits).
pub const TOKEN_HEX_LEN: usize = 32;

/// The HMAC state right after absorbing the key, cloned for each token: the two key blocks are
/// hashed once per policy, not once per value.
#[derive(Clone)]
pub(super) struct Pseudonymizer {
    keyed: Hmac<Sha256>,
}

impl Pseudonymizer {
    pub(super) fn new(key: &HashKey) -> Self {
        Self { keyed: Hmac::new_from_slice(key.bytes()).expect("HMAC accepts keys of any length") }
    }

    /// The token of a value already in canonical form.
    pub(super) fn token(&self, canonical: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(canonical.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut token = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_HEX_LEN);
        token.push_str(TOKEN_PREFIX);
        token.push_str(&hex::encode(&digest[..TOKEN_HEX_LEN / 2]));
        token
    }
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer(<keyed>)")
    }
}

/// The canonical form of a whole value (a value a `hash` rule selects, or a raw value looked up
/// by subject): trimmed, and when all of it is one detected item, that item's canonical form, so
/// that ` User@Example.com` under an `email` key, `user@example.com` inside a note and the
/// lookup `USER@example.com` give one token.
pub(super) fn canonical_value(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    let mut found = Vec::new();
    detectors::find_personal_data(trimmed, Kinds::ALL, &mut found);
    match found.as_slice() {
        [one] if one.span == (0..trimmed.len()) => {
            let kind = one.kinds.iter().next().expect("a detection has a kind");
            Cow::Owned(detectors::canonical(kind, trimmed).into_owned())
        }
        _ => Cow::Borrowed(trimmed),
    }
}
