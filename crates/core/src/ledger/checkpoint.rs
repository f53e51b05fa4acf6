//! Signed checkpoints: the tree size and root a log commits to, as a C2SP signed note
//! (<https://c2sp.org/tlog-checkpoint>, <https://c2sp.org/signed-note>) with an Ed25519 signature.
//!
//! ```text
//! ml-audit.example/log
//! 42
//! 0rHvy4yxH2XEn3MbHV1tOlsxFkjkCYCjc8nxKzBQgrc=
//! time 2026-11-27T08:00:00Z
//!
//! — ml-audit.example/log <base64(key id ‖ signature)>
//! ```
//!
//! The signature covers the text above the blank line, final newline included. Because the format
//! is the one Go's `sumdb/note` and the transparency-dev tools read, third-party witnesses and
//! verifiers can check our checkpoints without our code.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::merkle::Hash;

/// The signed-note signature type of Ed25519 signatures.
const ED25519_TYPE: u8 = 0x01;
/// Starts every signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// C2SP asks verifiers to cap the signatures of a note and to accept at least 16; Go's
/// `sumdb/note`, which deployed witnesses use, stops at 100.
const MAX_SIGNATURES: usize = 100;

/// A log's tree head at one moment: what a checkpoint note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, such as `ml-audit.example/log`; C2SP recommends the signing key's name
    /// be the same. Verifiers must check it is the log they expect.
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
    /// When the log signed the tree head; written in UTC as the extension line `time <RFC 3339>`.
    pub time: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("invalid key name {0:?}: it must be non-empty, without spaces, control characters or '+'")]
    InvalidKeyName(String),
    #[error("invalid origin {0:?}: it must be non-empty, without control characters")]
    InvalidOrigin(String),
    #[error("the checkpoint time cannot be written as RFC 3339 in UTC")]
    InvalidTime,
    #[error("not a usable Ed25519 public key")]
    InvalidPublicKey,
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("malformed signed note: {0}")]
    MalformedNote(&'static str),
    #[error("the note has no signature by key {0:?} with this public key")]
    NotSignedByKey(String),
    #[error("the note's signature by this key does not verify")]
    BadSignature,
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
}

impl Checkpoint {
    /// The signed text: origin, size, root and time lines, each ending in a newline.
    fn to_note_text(&self) -> Result<String, CheckpointError> {
        // A newline in the origin would let it forge the lines after it.
        if !is_valid_origin(&self.origin) {
            return Err(CheckpointError::InvalidOrigin(self.origin.clone()));
        }
        let time = format_time(self.time).ok_or(CheckpointError::InvalidTime)?;
        Ok(format!("{}\n{}\n{}\ntime {time}\n", self.origin, self.tree_size, STANDARD.encode(self.root)))
    }

    /// Reads a verified note text. Only the exact form `to_note_text` writes is accepted, so one
    /// checkpoint has one text.
    fn from_note_text(text: &str) -> Result<Self, CheckpointError> {
        let malformed = CheckpointError::MalformedCheckpoint;
        // The text ends in a newline and has no other control character: `lines` splits exactly.
        let lines: Vec<&str> = text.lines().collect();
        let [origin, tree_size, root, time] = lines[..] else {
            return Err(malformed("expected four lines: origin, tree size, root hash and time"));
        };
        if !is_valid_origin(origin) {
            return Err(malformed("the origin is empty or has control characters"));
        }
        // Round-tripping rejects a sign, leading zeros and overflow, as C2SP requires.
        let tree_size = tree_size
            .parse::<u64>()
            .ok()
            .filter(|size| size.to_string() == tree_size)
            .ok_or(malformed("the tree size is not a decimal number without leading zeros"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or(malformed("the root is not a base64 SHA-256 hash"))?;
        let time = time
            .strip_prefix("time ")
            .and_then(|time| {
                OffsetDateTime::parse(time, &Rfc3339)
                    .ok()
                    .filter(|parsed| format_time(*parsed).as_deref() == Some(time))
            })
            .ok_or(malformed("the fourth line is not `time <RFC 3339 in UTC>`"))?;
        Ok(Self { origin: origin.to_owned(), tree_size, root, time })
    }
}

/// `None` for times whose UTC year falls outside 0000–9999, which RFC 3339 cannot write.
fn format_time(time: OffsetDateTime) -> Option<String> {
    time.checked_to_offset(UtcOffset::UTC)?.format(&Rfc3339).ok()
}

fn is_valid_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.chars().any(char::is_control)
}

/// C2SP signed-note: a key name is non-empty with no Unicode space and no '+'; control characters
/// are refused too, as no signed note may contain them.
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`: names the key in signature lines, so a
/// verifier finds its key's line among others (witness cosignatures, rotated keys).
fn key_id(key_name: &str, public_key: &PublicKey) -> [u8; 4] {
    let digest: Hash = Sha256::new()
        .chain_update(key_name)
        .chain_update([b'\n', ED25519_TYPE])
        .chain_update(public_key.0.as_bytes())
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    [a, b, c, d]
}

/// A log's Ed25519 signing key and the key name its signatures carry.
pub struct SigningKey {
    key_name: String,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new random key.
    pub fn generate(key_name: impl Into<String>) -> Result<Self, CheckpointError> {
        let mut seed = [0; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source is available");
        Self::from_bytes(key_name, &seed)
    }

    /// The key whose 32-byte secret seed (RFC 8032) is `seed`.
    pub fn from_bytes(key_name: impl Into<String>, seed: &[u8; 32]) -> Result<Self, CheckpointError> {
        let key_name = key_name.into();
        if !is_valid_key_name(&key_name) {
            return Err(CheckpointError::InvalidKeyName(key_name));
        }
        Ok(Self { key_name, key: ed25519_dalek::SigningKey::from_bytes(seed) })
    }

    /// The secret seed, to store the key: keep it as secret as the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// The public half as one string to publish: `<name>+<key id>+<key>`.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey { key_name: self.key_name.clone(), public_key: self.public_key() }
    }

    /// The signed checkpoint note. Fails only for an origin that is empty or has control
    /// characters, or a time RFC 3339 cannot write.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        Ok(self.sign_note(&checkpoint.to_note_text()?))
    }

    /// `text` (ending in a newline), a blank line and this key's signature line.
    fn sign_note(&self, text: &str) -> String {
        let mut signature = key_id(&self.key_name, &self.public_key()).to_vec();
        signature.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.key_name, STANDARD.encode(signature))
    }
}

/// Shows the key name and public key, never the secret.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_name", &self.key_name)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key that can verify signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Refuses bytes that are not a point on the curve, and small-order keys, whose signatures
    /// prove nothing.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CheckpointError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .ok()
            .filter(|key| !key.is_weak())
            .map(Self)
            .ok_or(CheckpointError::InvalidPublicKey)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0.as_bytes()))
    }
}

/// A key name and public key in the C2SP verifier-key encoding,
/// `<key name>+<hex key id>+<base64(0x01 ‖ public key)>`: one string that a log publishes and its
/// auditors configure. Parse it with `str::parse`; print it with `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    key_name: String,
    public_key: PublicKey,
}

impl VerifierKey {
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(self.public_key.0.as_bytes());
        let key_id = hex::encode(key_id(&self.key_name, &self.public_key));
        write!(f, "{}+{key_id}+{}", self.key_name, STANDARD.encode(key))
    }
}

impl FromStr for VerifierKey {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<Self, CheckpointError> {
        let malformed = CheckpointError::MalformedVerifierKey;
        // A name has no '+' but base64 may: split at the first two only.
        let mut parts = text.splitn(3, '+');
        let (Some(key_name), Some(key_id_hex), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed("expected <key name>+<key id>+<key>"));
        };
        if !is_valid_key_name(key_name) {
            return Err(malformed("invalid key name"));
        }
        let mut claimed_id = [0; 4];
        hex::decode_to_slice(key_id_hex, &mut claimed_id).map_err(|_| malformed("the key id is not 8 hex digits"))?;
        let Some([ED25519_TYPE, key @ ..]) =
            STANDARD.decode(key).ok().and_then(|bytes| <[u8; 33]>::try_from(bytes).ok())
        else {
            return Err(malformed("the key is not base64 of 0x01 and a 32-byte Ed25519 key"));
        };
        let public_key = PublicKey::from_bytes(&key)?;
        if key_id(key_name, &public_key) != claimed_id {
            return Err(malformed("the key id does not match the name and key"));
        }
        Ok(Self { key_name: key_name.to_owned(), public_key })
    }
}

/// Verifies a checkpoint note signed by the key `key_name` / `public_key` and reads it.
///
/// Signature lines of other keys (a witness's cosignature, a rotated key) are ignored, as C2SP
/// requires; the note is refused when none is by this key or when this key's signature fails.
/// The caller still decides whether `origin` is the log it expects.
pub fn parse_and_verify(note: &str, key_name: &str, public_key: &PublicKey) -> Result<Checkpoint, CheckpointError> {
    Checkpoint::from_note_text(open_note(note, key_name, public_key)?)
}

/// C2SP signed-note verification: the signed text, once this key's signature on it checks out.
fn open_note<'a>(note: &'a str, key_name: &str, public_key: &PublicKey) -> Result<&'a str, CheckpointError> {
    let malformed = CheckpointError::MalformedNote;
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("it contains a control character"));
    }
    // The text runs to the last blank line and keeps its final newline.
    let blank_line = note.rfind("\n\n").ok_or(malformed("no blank line before the signatures"))?;
    let (text, signature_lines) = note.split_at(blank_line + 1);
    let signature_lines = signature_lines
        .strip_prefix('\n')
        .and_then(|lines| lines.strip_suffix('\n'))
        .ok_or(malformed("the signatures do not end with a newline"))?;
    let wanted_id = key_id(key_name, public_key);
    let mut ours = None;
    for (count, line) in signature_lines.split('\n').enumerate() {
        if count == MAX_SIGNATURES {
            return Err(malformed("more than 100 signatures"));
        }
        let (name, id, signature) =
            parse_signature_line(line).ok_or(malformed("a signature line is not `— <key name> <base64>`"))?;
        // The first line of this key decides, as in Go's note.Open.
        if ours.is_none() && name == key_name && id == wanted_id {
            ours = Some(signature);
        }
    }
    let signature = ours.ok_or_else(|| CheckpointError::NotSignedByKey(key_name.to_owned()))?;
    let signature = <[u8; 64]>::try_from(signature).map_err(|_| CheckpointError::BadSignature)?;
    // Strict: also refuses small-order points, with which one signature can fit several texts.
    public_key
        .0
        .verify_strict(text.as_bytes(), &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| CheckpointError::BadSignature)?;
    Ok(text)
}

/// `— <key name> <base64(key id ‖ signature)>` as (name, key id, signature).
fn parse_signature_line(line: &str) -> Option<(&str, [u8; 4], Vec<u8>)> {
    let (name, encoded) = line.strip_prefix(SIGNATURE_PREFIX)?.split_once(' ')?;
    let decoded = STANDARD.decode(encoded).ok()?;
    match decoded.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() && is_valid_key_name(name) => {
            Some((name, [*a, *b, *c, *d], signature.to_vec()))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
