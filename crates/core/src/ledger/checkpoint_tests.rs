use time::macros::datetime;

use super::*;
use crate::ledger::merkle::{empty_root, leaf_hash};

// The key and note of Go's golang.org/x/mod/sumdb/note `note_test.go`, the reference
// implementation of C2SP signed notes. Ed25519 is deterministic, so signing must reproduce the
// note byte for byte.
const PETER_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SIG: &str =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const ENOCH_SIG: &str =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
const TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

fn peter() -> SigningKey {
    // PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>, whose base64 may hold '+'.
    let encoded = PETER_SIGNER.splitn(5, '+').nth(4).unwrap();
    let Ok([ED25519_TYPE, seed @ ..]) = <[u8; 33]>::try_from(STANDARD.decode(encoded).unwrap()) else {
        panic!("the Go signer key is 0x01 and a 32-byte seed");
    };
    SigningKey::from_bytes("PeterNeumann", &seed).unwrap()
}

fn vkey(text: &str) -> VerifierKey {
    text.parse().unwrap()
}

const ORIGIN: &str = "ml-audit.example/log";

fn log_key() -> SigningKey {
    SigningKey::from_bytes(ORIGIN, &[7; 32]).unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.to_owned(),
        tree_size: 1_234_567,
        root: leaf_hash(b"some root"),
        time: datetime!(2026-11-27 08:00:00.123456 UTC),
    }
}

fn verify(note: &str, key: &SigningKey) -> Result<Checkpoint, CheckpointError> {
    parse_and_verify(note, key.key_name(), &key.public_key())
}

#[test]
fn signing_and_keys_match_go_sumdb_note() {
    let peter = peter();
    assert_eq!(peter.verifier_key().to_string(), PETER_VKEY);
    assert_eq!(vkey(PETER_VKEY), peter.verifier_key());
    assert_eq!(peter.sign_note(TEXT), format!("{TEXT}\n{PETER_SIG}"));
}

#[test]
fn opening_go_notes_follows_go_sumdb_note() {
    let (peter, enoch) = (vkey(PETER_VKEY), vkey(ENOCH_VKEY));
    fn open<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, CheckpointError> {
        open_note(note, key.key_name(), key.public_key())
    }

    // Each key finds its own line and ignores the other's.
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(open(&both, &peter), Ok(TEXT));
    assert_eq!(open(&both, &enoch), Ok(TEXT));
    assert_eq!(
        open(&format!("{TEXT}\n{ENOCH_SIG}"), &peter),
        Err(CheckpointError::NotSignedByKey("PeterNeumann".into()))
    );

    // Up to 100 signatures, not 101.
    assert_eq!(open(&format!("{TEXT}\n{}", PETER_SIG.repeat(100)), &peter), Ok(TEXT));
    assert!(matches!(
        open(&format!("{TEXT}\n{}", PETER_SIG.repeat(101)), &peter),
        Err(CheckpointError::MalformedNote(_))
    ));

    // A known key's signature that does not verify (here, also of the wrong length).
    let garbled = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(open(&garbled, &peter), Err(CheckpointError::BadSignature));
    assert_eq!(
        open(&format!("{TEXT}\n{PETER_SIG}").replace("cryptography", "cryptographY"), &peter),
        Err(CheckpointError::BadSignature)
    );

    // Go's table of malformed notes ("\xff" cannot be in a &str).
    for note in [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ] {
        assert!(matches!(open(&note, &peter), Err(CheckpointError::MalformedNote(_))), "{note:?}");
    }
}

#[test]
fn verifier_keys_refuse_every_mangling() {
    // As Go's TestNewVerifier: every proper substring and every single-byte change fails.
    let bytes = PETER_VKEY.as_bytes();
    for start in 0..bytes.len() {
        for end in start + 1..=bytes.len() {
            if (start, end) != (0, bytes.len()) {
                let part = &PETER_VKEY[start..end];
                assert!(part.parse::<VerifierKey>().is_err(), "{part:?}");
            }
        }
    }
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] += 1;
        let changed = String::from_utf8(changed).unwrap();
        assert!(changed.parse::<VerifierKey>().is_err(), "{changed:?}");
    }
    // A wrong-length key and an unknown signature type, each with a key id made to match.
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(matches!(bad.parse::<VerifierKey>(), Err(CheckpointError::MalformedVerifierKey(_))), "{bad}");
    }
}

#[test]
fn a_signed_checkpoint_reads_back() {
    let key = log_key();
    let checkpoint = checkpoint();
    let note = key.sign(&checkpoint).unwrap();

    let (body, signature) = note.split_once("\n\n").unwrap();
    assert_eq!(
        body,
        format!(
            "ml-audit.example/log\n1234567\n{}\ntime 2026-11-27T08:00:00.123456Z",
            STANDARD.encode(checkpoint.root)
        )
    );
    assert!(signature.starts_with("— ml-audit.example/log ") && signature.ends_with('\n'), "{signature}");
    assert_eq!(verify(&note, &key), Ok(checkpoint.clone()));

    // Through the published verifier key, as an auditor would.
    let published: VerifierKey = key.verifier_key().to_string().parse().unwrap();
    assert_eq!(parse_and_verify(&note, published.key_name(), published.public_key()), Ok(checkpoint));
}

#[test]
fn edge_values_read_back() {
    let key = log_key();
    for checkpoint in [
        Checkpoint { tree_size: 0, root: empty_root(), time: datetime!(2026-01-01 00:00 UTC), ..checkpoint() },
        Checkpoint { tree_size: u64::MAX, time: datetime!(9999-12-31 23:59:59.999999999 UTC), ..checkpoint() },
        Checkpoint { time: datetime!(0000-01-01 00:00 UTC), ..checkpoint() },
    ] {
        assert_eq!(verify(&key.sign(&checkpoint).unwrap(), &key), Ok(checkpoint));
    }
}

#[test]
fn times_are_written_in_utc() {
    let key = log_key();
    let checkpoint = Checkpoint { time: datetime!(2026-11-27 10:00 +02:00), ..checkpoint() };
    let note = key.sign(&checkpoint).unwrap();
    assert!(note.contains("\ntime 2026-11-27T08:00:00Z\n"), "{note}");
    let read = verify(&note, &key).unwrap();
    assert_eq!((read.time, read.time.offset()), (checkpoint.time, UtcOffset::UTC));

    let unwritable = Checkpoint { time: datetime!(9999-12-31 23:00 -02:00), ..checkpoint };
    assert_eq!(key.sign(&unwritable), Err(CheckpointError::InvalidTime));
}

#[test]
fn any_changed_character_is_refused() {
    let key = log_key();
    let note = key.sign(&checkpoint()).unwrap();
    for (i, c) in note.char_indices() {
        let replacement = if c == 'A' { "B" } else { "A" };
        let changed = format!("{}{replacement}{}", &note[..i], &note[i + c.len_utf8()..]);
        assert!(verify(&changed, &key).is_err(), "changing {c:?} at {i} went unnoticed:\n{changed}");
    }
    for (i, _) in note.char_indices() {
        let shorter = format!("{}{}", &note[..i], &note[i..].chars().skip(1).collect::<String>());
        assert!(verify(&shorter, &key).is_err(), "removing the character at {i} went unnoticed");
    }
}

#[test]
fn another_key_is_refused() {
    let key = log_key();
    let note = key.sign(&checkpoint()).unwrap();

    let stranger = SigningKey::generate("someone.example/log").unwrap();
    assert_eq!(verify(&note, &stranger), Err(CheckpointError::NotSignedByKey("someone.example/log".into())));
    // Same name, other key: a different key id, so not its line either.
    let impostor = SigningKey::from_bytes(ORIGIN, &[8; 32]).unwrap();
    assert_eq!(verify(&note, &impostor), Err(CheckpointError::NotSignedByKey(ORIGIN.into())));
    assert!(matches!(verify(&impostor.sign(&checkpoint()).unwrap(), &key), Err(CheckpointError::NotSignedByKey(_))));

    // Another key's signature under our name and key id.
    let forged = impostor.sign(&checkpoint()).unwrap();
    let (text, line) = forged.rsplit_once("\n\n").unwrap();
    let encoded = line.strip_prefix(&format!("— {ORIGIN} ")).unwrap().trim_end();
    let mut signature = STANDARD.decode(encoded).unwrap();
    signature[..4].copy_from_slice(&key_id(ORIGIN, &key.public_key()));
    let forged = format!("{text}\n\n— {ORIGIN} {}\n", STANDARD.encode(signature));
    assert_eq!(verify(&forged, &key), Err(CheckpointError::BadSignature));
}

#[test]
fn cosignatures_of_other_keys_are_ignored() {
    let key = log_key();
    let note = key.sign(&checkpoint()).unwrap();
    let witness = SigningKey::generate("witness.example/w1").unwrap();
    let (text, ours) = note.rsplit_once("\n\n").unwrap();
    let theirs = witness.sign_note(&format!("{text}\n"));
    let (_, theirs) = theirs.rsplit_once("\n\n").unwrap();
    let cosigned = format!("{text}\n\n{theirs}{ours}");
    assert_eq!(verify(&cosigned, &key), Ok(checkpoint()));
    assert_eq!(verify(&cosigned, &witness), Ok(checkpoint()));
}

#[test]
fn malformed_bodies_are_refused_even_when_signed() {
    let key = log_key();
    let root = STANDARD.encode(leaf_hash(b"r"));
    let time = "time 2026-11-27T08:00:00Z";
    for body in [
        format!("{ORIGIN}\n5\n{root}\n"),
        format!("{ORIGIN}\n5\n{root}\n{time}\nextra\n"),
        format!("\n5\n{root}\n{time}\n"),
        format!("{ORIGIN}\n05\n{root}\n{time}\n"),
        format!("{ORIGIN}\n+5\n{root}\n{time}\n"),
        format!("{ORIGIN}\n-5\n{root}\n{time}\n"),
        format!("{ORIGIN}\n\n{root}\n{time}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\n{time}\n"),
        format!("{ORIGIN}\n5\n{}\n{time}\n", STANDARD.encode([1; 31])),
        format!("{ORIGIN}\n5\n{}\n{time}\n", hex::encode(leaf_hash(b"r"))),
        format!("{ORIGIN}\n5\n{}\n{time}\n", root.trim_end_matches('=')),
        format!("{ORIGIN}\n5\n{root}\ntime 2026-11-27T10:00:00+02:00\n"),
        format!("{ORIGIN}\n5\n{root}\ntime 2026-11-27T08:00:00.500000Z\n"),
        format!("{ORIGIN}\n5\n{root}\ntime 2026-11-27 08:00:00Z\n"),
        format!("{ORIGIN}\n5\n{root}\nTime 2026-11-27T08:00:00Z\n"),
        format!("{ORIGIN}\n5\n{root}\n{time}\n\n"),
    ] {
        let note = key.sign_note(&body);
        assert!(verify(&note, &key).is_err(), "{body:?} was accepted");
    }
    // The same lines, well formed, are accepted: the cases above fail for their one defect.
    let good = key.sign_note(&format!("{ORIGIN}\n5\n{root}\n{time}\n"));
    assert_eq!(verify(&good, &key).map(|checkpoint| checkpoint.tree_size), Ok(5));
}

#[test]
fn names_and_origins_that_would_break_the_note_are_refused() {
    for name in ["", "two words", "a+b", "tab\there", "line\nbreak", "nbsp\u{a0}x"] {
        assert_eq!(SigningKey::from_bytes(name, &[1; 32]).unwrap_err(), CheckpointError::InvalidKeyName(name.into()));
    }
    let key = log_key();
    for origin in ["", "ml-audit.example/log\n0\nforged", "bell\u{7}"] {
        let checkpoint = Checkpoint { origin: origin.into(), ..checkpoint() };
        assert_eq!(key.sign(&checkpoint), Err(CheckpointError::InvalidOrigin(origin.into())));
    }
}

#[test]
fn keys_round_trip_and_debug_hides_the_secret() {
    let key = SigningKey::generate(ORIGIN).unwrap();
    let seed = key.to_bytes();
    let again = SigningKey::from_bytes(ORIGIN, &seed).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    assert_eq!(PublicKey::from_bytes(&key.public_key().to_bytes()), Ok(key.public_key()));
    assert_ne!(SigningKey::generate(ORIGIN).unwrap().public_key(), key.public_key());

    let debug = format!("{key:?}");
    assert!(debug.contains(ORIGIN) && debug.contains(&hex::encode(key.public_key().to_bytes())), "{debug}");
    assert!(!debug.contains(&hex::encode(seed)) && !debug.contains(&format!("{seed:?}")), "{debug}");
}

#[test]
fn unusable_public_keys_are_refused() {
    // The identity point (small order) and a y coordinate with no point on the curve.
    let mut identity = [0; 32];
    identity[0] = 1;
    assert_eq!(PublicKey::from_bytes(&identity), Err(CheckpointError::InvalidPublicKey));
    let mut not_on_curve = [0; 32];
    not_on_curve[0] = 2;
    assert_eq!(PublicKey::from_bytes(&not_on_curve), Err(CheckpointError::InvalidPublicKey));
}
