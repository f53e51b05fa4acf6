//! The checkpoint signing key: an Ed25519 key in a file outside the database (so a database
//! administrator cannot re-sign a rewritten log), created on first start.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use ml_audit_core::ledger::checkpoint::{self, Checkpoint, CheckpointError, SigningKey, VerifierKey};

use crate::{LedgerError, Result};

/// The signing half, held by the sealer.
pub struct LedgerKey {
    signing: SigningKey,
    verifier: LedgerVerifier,
}

/// The public half: what `verify` and auditors need.
#[derive(Debug, Clone)]
pub struct LedgerVerifier {
    key: VerifierKey,
}

impl LedgerKey {
    /// Reads the key at `path` (hex of the 32-byte seed), or creates it — readable by its owner
    /// only — when the file does not exist. `origin` names the log in every checkpoint.
    pub fn load_or_create(path: &Path, origin: &str) -> Result<Self> {
        let failed = |message: String| LedgerError::Key { path: path.display().to_string(), message };
        let seed = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| failed("does not hold a hex Ed25519 seed of 32 bytes".into()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(origin).map_err(invalid)?;
                write_private(path, &hex::encode(key.to_bytes())).map_err(|e| failed(e.to_string()))?;
                tracing::info!(path = %path.display(), "created the ledger signing key");
                key.to_bytes()
            }
            Err(error) => return Err(failed(error.to_string())),
        };
        Self::from_seed(seed, origin)
    }

    /// A key that lives only in memory (tests, `demo`).
    pub fn ephemeral(origin: &str) -> Result<Self> {
        Self::from_seed(SigningKey::generate(origin).map_err(invalid)?.to_bytes(), origin)
    }

    fn from_seed(seed: [u8; 32], origin: &str) -> Result<Self> {
        let signing = SigningKey::from_bytes(origin, &seed).map_err(invalid)?;
        let verifier = LedgerVerifier { key: signing.verifier_key() };
        Ok(Self { signing, verifier })
    }

    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    pub fn verifier(&self) -> &LedgerVerifier {
        &self.verifier
    }

    /// A secret for another purpose (e.g. signing UI session cookies), derived from the signing
    /// key: replicas sharing the key agree on it, a restart keeps it, and it reveals nothing
    /// about the key. Each `purpose` gets an unrelated secret.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.signing.to_bytes()).expect("HMAC takes any key");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String> {
        self.signing.sign(checkpoint).map_err(invalid)
    }

    pub fn verify(&self, note: &str) -> Result<Checkpoint> {
        self.verifier.verify(note)
    }
}

impl LedgerVerifier {
    /// Parses a C2SP verifier key (`<name>+<hex id>+<base64 key>`).
    pub fn from_vkey(vkey: &str) -> Result<Self> {
        vkey.trim()
            .parse::<VerifierKey>()
            .map(|key| Self { key })
            .map_err(|e| LedgerError::Malformed(format!("not a ledger public key: {e}")))
    }

    pub fn vkey(&self) -> String {
        self.key.to_string()
    }

    pub fn name(&self) -> &str {
        self.key.key_name()
    }

    /// Checks a signed note and returns the checkpoint it signs.
    pub fn verify(&self, note: &str) -> Result<Checkpoint> {
        let checkpoint =
            checkpoint::parse_and_verify(note, self.key.key_name(), self.key.public_key()).map_err(invalid)?;
        if checkpoint.origin != self.key.key_name() {
            return Err(LedgerError::Integrity(format!(
                "the checkpoint is for the log {:?}, not {:?}",
                checkpoint.origin,
                self.key.key_name()
            )));
        }
        Ok(checkpoint)
    }
}

fn invalid(error: CheckpointError) -> LedgerError {
    LedgerError::Integrity(error.to_string())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
