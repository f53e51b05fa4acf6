#!/usr/bin/env python3
"""Verify one ml-audit record offline, with the Python standard library only.

    python3 verify_record.py PROOF.json CHECKPOINT.txt PUBLIC_KEY

PROOF.json is what `GET /api/v1/predictions/{ref}/proof` returned, CHECKPOINT.txt a signed
checkpoint note of the same tree size, PUBLIC_KEY the log's verifier key (the `vkey` of
`GET /api/v1/ledger/public-key`, or a file holding it). Exit 0 when the record is proven to be in
the log the checkpoint signs, and the proof's `record` is what that leaf commits to (the leaf data
itself, or for a salted record the seal of its commitment); 1 otherwise. The formats are in
docs/ledger.md; this script is meant to be read: it trusts nothing from the server but the public
key you obtained out of band.
"""

import base64
import hashlib
import json
import os
import sys

# --- Ed25519 verification (RFC 8032 §5.1.7), after the RFC's reference implementation ---------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    # Extended twisted Edwards coordinates (X, Y, Z, T).
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    z = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, z - c, z + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public_key, message, signature):
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


# --- C2SP signed notes and checkpoints ------------------------------------------------------------


def parse_vkey(vkey):
    """`<name>+<hex key id>+<base64(0x01 || public key)>` -> (name, key id, public key)."""
    # The name has no "+", but base64 may: split at the first two only.
    name, key_id, encoded = vkey.strip().split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    if raw[0] != 0x01 or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    public_key = raw[1:]
    expected_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if bytes.fromhex(key_id) != expected_id:
        raise ValueError("the key id does not match the key")
    return name, expected_id, public_key


def verify_checkpoint(note, vkey):
    """Returns (origin, tree size, root hash) when `note` carries a valid signature by `vkey`."""
    name, key_id, public_key = parse_vkey(vkey)
    body, separator, signatures = note.partition("\n\n")
    if not separator:
        raise ValueError("the note has no signature block")
    body += "\n"
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            continue
        signer, _, encoded = line[2:].rpartition(" ")
        raw = base64.b64decode(encoded)
        if signer == name and raw[:4] == key_id and ed25519_verify(public_key, body.encode(), raw[4:]):
            lines = body.splitlines()
            if lines[0] != name:
                raise ValueError("the checkpoint is for log %r, not %r" % (lines[0], name))
            return lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    raise ValueError("no valid signature by %s on the checkpoint" % name)


# --- RFC 6962 / RFC 9162 Merkle tree ----------------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- RFC 8785 (JCS) canonical JSON, and what a leaf commits to ----------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _jcs_number(value):
    """ECMAScript's Number::toString of the double nearest to `value` (RFC 8785 §3.2.2.3)."""
    try:
        value = float(value)  # an integer becomes its nearest double, as in JavaScript
    except OverflowError:
        raise ValueError("a number is beyond the range of a double")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities are not JSON")
    if value == 0:
        return "0"  # -0 too
    # repr() gives the shortest digits that round-trip; value = 0.<digits> * 10**point.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    k, n, sign = len(digits), point, "-" if value < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    significand = digits[0] + ("." + digits[1:] if k > 1 else "")
    return "%s%se%s%d" % (sign, significand, "+" if n > 0 else "-", abs(n - 1))


def _jcs(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _jcs_number(value)
    if isinstance(value, str):
        return '"%s"' % "".join(_ESCAPES.get(c) or ("\\u%04x" % ord(c) if c < " " else c) for c in value)
    if isinstance(value, list):
        return "[%s]" % ",".join(_jcs(item) for item in value)
    if isinstance(value, dict):
        # Members sorted by the UTF-16 code units of their names (§3.2.3).
        names = sorted(value, key=lambda name: name.encode("utf-16-be"))
        return "{%s}" % ",".join("%s:%s" % (_jcs(name), _jcs(value[name])) for name in names)
    raise ValueError("not a JSON value: %r" % (value,))


def canonical_json(value):
    """The RFC 8785 bytes of a parsed JSON value (UnicodeEncodeError, a ValueError, for lone
    surrogates)."""
    return _jcs(value).encode("utf-8")


_ABSENT = object()


def _is_int(value, number):
    return type(value) is int and value == number


def check_record(record, salt, data):
    """Raises ValueError unless `record` is what the leaf data `data` commits to: v1 (no salt),
    the record's canonical bytes are the leaf data; v2, the leaf data is the seal of
    SHA-256(salt || canonical record), and its members in clear are the record's."""
    if not isinstance(record, dict):
        raise ValueError("the proof's record is not a JSON object")
    if salt is None:
        if _is_int(record.get("v"), 2) and record.get("kind") in ("prediction", "explanation"):
            raise ValueError("the record is a v2 %s (salted), but the proof gives no salt" % record["kind"])
        if canonical_json(record) != data:
            raise ValueError("the record's canonical bytes are not the leaf data")
        return
    try:
        salt_bytes = bytes.fromhex(salt) if isinstance(salt, str) and len(salt) == 64 else b""
    except ValueError:
        salt_bytes = b""
    if len(salt_bytes) != 32:
        raise ValueError("the salt is not 64 hex digits (32 bytes)")
    try:
        seal = json.loads(data, parse_constant=_not_json)
    except ValueError:
        seal = None
    if not isinstance(seal, dict):
        raise ValueError("the leaf data is not a JSON seal")
    if not _is_int(seal.get("v"), 2):
        raise ValueError("the leaf is not a v2 seal, but the proof gives a salt")
    if not _is_int(record.get("v"), 2):
        raise ValueError("the record is not a v2 record, but its leaf is a seal")
    # The members in clear first: they name what differs, where the commitment cannot.
    for name, sealed in seal.items():
        if name in ("commitment", "v"):
            continue
        shown = record.get(name, _ABSENT)
        if name == "tenant_id":  # a prediction's seal holds its actor's tenant, "" without one
            if "actor" not in record:
                raise ValueError("the seal holds a tenant_id, but the record has no actor member")
            actor = record["actor"]
            shown = "" if actor is None else actor.get("tenant_id", _ABSENT) if isinstance(actor, dict) else _ABSENT
        if shown is _ABSENT or canonical_json(shown) != canonical_json(sealed):
            raise ValueError("the record's %s differs from the sealed one" % name)
    if hashlib.sha256(salt_bytes + canonical_json(record)).hexdigest() != seal.get("commitment"):
        raise ValueError("the record does not hash to the sealed commitment (with this salt)")


def _not_json(constant):
    raise ValueError("%s is not JSON" % constant)


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    proof_path, checkpoint_path, key = argv[1:]
    with open(proof_path, encoding="utf-8") as f:
        proof = json.load(f)
    with open(checkpoint_path, encoding="utf-8") as f:
        note = f.read()
    vkey = open(key, encoding="utf-8").read() if os.path.exists(key) else key
    try:
        origin, size, root = verify_checkpoint(note, vkey)
        data = base64.b64decode(proof["leaf_data"], validate=True)
        leaf = leaf_hash(data)
        if leaf.hex() != proof["leaf_hash"]:
            raise ValueError("leaf_data does not hash to leaf_hash: the record was altered")
        try:
            check_record(proof["record"], proof.get("salt"), data)
        except ValueError as error:
            raise ValueError("the record does not match its leaf: %s" % error)
        if proof["tree_size"] != size:
            raise ValueError("the proof is for %d leaves, the checkpoint for %d" % (proof["tree_size"], size))
        path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
        if not verify_inclusion(leaf, proof["leaf_index"], size, path, root):
            raise ValueError("the inclusion proof does not lead to the checkpoint's root")
    except (ValueError, KeyError, TypeError) as error:
        print("RECORD NOT VERIFIED: %s" % error)
        return 1
    record = proof["record"]
    print("record verified: %s %s is leaf %d of the %d-entry log %s"
          % (record.get("kind"), record.get("prediction_id", record.get("id")), proof["leaf_index"], size, origin))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
