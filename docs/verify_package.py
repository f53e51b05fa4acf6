#!/usr/bin/env python3
"""Verify an ml-audit evidence package offline, with the Python standard library only.

    python3 verify_package.py DIR [--vkey VKEY_OR_FILE]

DIR is what `ml-audit export --out DIR` wrote (docs/evidence.md). VKEY is the log's verifier key
(the `vkey` of `GET /api/v1/ledger/public-key`, or a file holding it), obtained out of band:
without it the package is only checked against the key its own manifest names, which shows it
is consistent but not whose log it is. Exit 0 when every check passes, 1 naming the first
failure on stderr, 2 for a usage error.

The checks, in the order `ml-audit verify --package` makes them:

1. manifest.json parses and is format version 1;
2. the folder holds exactly the files the manifest lists, and manifest.json;
3. each file's size, SHA-256 and row count are the manifest's;
4. checkpoint.txt is signed by the key (the one given, when given), for the manifest's log, tree
   size and root;
5. row by row: the data row and its records.jsonl line are of one prediction; the ledger record
   rebuilt from the data row is what its leaf commits to (verify_record.py's check); the leaf is
   in the checkpoint's tree and, with proofs, its inclusion path leads to the signed root.

Data in JSONL and CSV is read; Parquet data is hashed but its rows are not read (the standard
library has no Parquet reader): every other check is made, and the script says what it skipped.
This script is meant to be read; Ed25519, RFC 8785 and the record check are verify_record.py's,
beside it.
"""

import argparse
import base64
import binascii
import csv
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_record import canonical_json, check_record, leaf_hash, parse_vkey, verify_checkpoint, verify_inclusion  # noqa: E402

FORMAT = "ml-audit-evidence-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
CHECKPOINT = "checkpoint.txt"
PROOFS = "proofs.jsonl"
# A JSON cell can be far larger than the csv module's default limit of 128 KiB.
csv.field_size_limit(2**31 - 1)

DATA_FILES = {"jsonl": "predictions.jsonl", "csv": "predictions.csv", "parquet": "predictions.parquet"}

MANIFEST_MEMBERS = {"format", "format_version", "ml_audit_version", "created_at", "exported_by", "filters",
                    "data_format", "row_count", "erased_count", "with_proofs", "ledger", "files"}
LEDGER_MEMBERS = {"origin", "key_name", "vkey", "tree_size", "root_hash"}
FILE_MEMBERS = {"name", "bytes", "rows", "sha256"}

# The members of a prediction's ledger record that its data row shows under the same names; the
# others are v, kind and created_at, from its records.jsonl line.
DOCUMENT_MEMBERS = ["id", "prediction_id", "timestamp", "trace_id", "environment", "model", "actor", "features",
                    "redactions", "metadata", "metadata_redactions", "input_fingerprint", "output", "confidence",
                    "decision_outcome", "status", "latency_ms"]

# CSV: these columns hold a string's text; every other column holds JSON text. An empty cell in a
# nullable one, on an erased row, is null.
TEXT_COLUMNS = {"id", "prediction_id", "timestamp", "trace_id", "environment", "tenant_id", "input_fingerprint",
                "decision_outcome", "status", "final_decision", "review_state"}
NULLABLE_TEXT_COLUMNS = {"prediction_id", "trace_id", "environment", "input_fingerprint"}


class Failure(Exception):
    """The first check that failed: a sentence naming the file, and the row when there is one."""

    def __init__(self, message, file=None, row=None):
        super().__init__(message)
        self.file, self.row = file, row


def file_failure(name, message):
    return Failure("%s: %s" % (name, message), file=name)


def row_failure(name, row, prediction, message):
    unit = "line" if name.endswith(".jsonl") else "row"
    named = " (prediction %s)" % json.dumps(prediction) if prediction is not None else ""
    return Failure("%s %s %d%s: %s" % (name, unit, row, named, message), file=name, row=row)


def _not_json(constant):
    raise ValueError("%s is not JSON" % constant)


def _no_duplicates(pairs):
    # Tools disagree on which of two members of one name counts (json keeps the last, others the
    # first): a package could show an auditor's tool one value and this script another.
    names = set()
    for name, _ in pairs:
        if name in names:
            raise ValueError("the member %s appears twice" % json.dumps(name))
        names.add(name)
    return dict(pairs)


def loads(text):
    return json.loads(text, parse_constant=_not_json, object_pairs_hook=_no_duplicates)


def is_hex_hash(text):
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def is_count(value):
    return type(value) is int and value >= 0


# --- 1. The manifest ------------------------------------------------------------------------------


def read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        raise file_failure(MANIFEST, "is missing: this is not an evidence package, or its export did not finish")
    try:
        with open(path, "rb") as f:
            manifest = loads(f.read())
    except ValueError as error:
        raise file_failure(MANIFEST, "is not JSON: %s" % error)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise file_failure(MANIFEST, "its format is not %s" % json.dumps(FORMAT))
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or type(version) is not int:
        raise file_failure(MANIFEST, "it is format version %s; this verifier reads version %d" % (version, FORMAT_VERSION))
    bad = lambda message: file_failure(MANIFEST, message)  # noqa: E731
    if set(manifest) != MANIFEST_MEMBERS:
        raise bad("is not a version 1 manifest: its members are not %s" % ", ".join(sorted(MANIFEST_MEMBERS)))
    ledger, files = manifest["ledger"], manifest["files"]
    if not isinstance(ledger, dict) or set(ledger) != LEDGER_MEMBERS:
        raise bad("is not a version 1 manifest: ledger's members are not %s" % ", ".join(sorted(LEDGER_MEMBERS)))
    if not isinstance(files, list) or not all(isinstance(f, dict) and set(f) == FILE_MEMBERS for f in files):
        raise bad("is not a version 1 manifest: each of files has the members %s" % ", ".join(sorted(FILE_MEMBERS)))
    data_file = DATA_FILES.get(manifest["data_format"])
    if data_file is None:
        raise bad("data_format %s is not jsonl, csv or parquet" % json.dumps(manifest["data_format"]))
    if not is_count(manifest["row_count"]) or not is_count(manifest["erased_count"]) \
            or not isinstance(manifest["with_proofs"], bool) or not is_count(ledger["tree_size"]):
        raise bad("is not a version 1 manifest: a count or flag has the wrong type")
    expected = [data_file, RECORDS, CHECKPOINT] + ([PROOFS] if manifest["with_proofs"] else [])
    names = []
    for entry in files:
        name = entry["name"]
        if name not in expected:
            raise bad("it lists %s, which this package (data %s) does not have" % (json.dumps(name), manifest["data_format"]))
        if name in names:
            raise bad("it lists %s twice" % json.dumps(name))
        names.append(name)
        if not is_hex_hash(entry["sha256"]) or not is_count(entry["bytes"]):
            raise bad("the sha256 or bytes of %s is malformed" % name)
        rows = None if name == CHECKPOINT else manifest["row_count"]
        if entry["rows"] != rows:
            raise bad("%s has %s rows, but it should have %s" % (name, entry["rows"], rows))
    for name in expected:
        if name not in names:
            raise bad("it does not list %s" % name)
    if manifest["erased_count"] > manifest["row_count"]:
        raise bad("erased_count exceeds row_count")
    if not is_hex_hash(ledger["root_hash"]):
        raise bad("ledger.root_hash is not 64 hex digits")
    return manifest


# --- 2. The files ---------------------------------------------------------------------------------


def check_file_set(directory, manifest):
    listed = [entry["name"] for entry in manifest["files"]]
    present = set(os.listdir(directory))
    for name in sorted(present):
        path = os.path.join(directory, name)
        if (name == MANIFEST or name in listed) and (os.path.islink(path) or not os.path.isfile(path)):
            raise file_failure(name, "is not a regular file")
    missing = [name for name in listed if name not in present]
    extra = sorted(name for name in present if name != MANIFEST and name not in listed)
    sentences = []
    if missing:
        sentences.append("missing: %s (listed in manifest.json)" % ", ".join(missing))
    if extra:
        sentences.append("not listed in manifest.json: %s" % ", ".join(extra))
    if sentences:
        raise Failure("the package's files are not the ones its manifest lists: %s" % "; ".join(sentences),
                      file=(missing + extra)[0])


# --- 3. Sizes, hashes and rows --------------------------------------------------------------------


def count_rows(path, name):
    """Lines of a line file, data rows of CSV data, None for the checkpoint and for Parquet data
    (whose rows this script cannot read)."""
    if name.endswith(".jsonl"):
        lines, last = 0, b"\n"
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                lines += block.count(b"\n")
                last = block[-1:]
        if last != b"\n":
            raise file_failure(name, "its last line does not end with a newline")
        return lines
    if name.endswith(".csv"):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                return max(sum(1 for _ in csv.reader(f, strict=True)) - 1, 0)
        except (csv.Error, UnicodeDecodeError) as error:
            raise file_failure(name, "is not UTF-8 CSV: %s" % error)
    return None


def check_file(directory, entry):
    name = entry["name"]
    path = os.path.join(directory, name)
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    if size != entry["bytes"]:
        raise file_failure(name, "it has %d bytes, manifest.json says %d: the file was changed" % (size, entry["bytes"]))
    if digest.hexdigest() != entry["sha256"].lower():
        raise file_failure(name, "its SHA-256 is not the one in manifest.json: the file was changed")
    if name.endswith(".parquet"):
        return  # rows not countable here: said in the report
    rows = count_rows(path, name)
    if rows != entry["rows"]:
        raise file_failure(name, "it has %s rows, manifest.json says %s" % (rows, entry["rows"]))


# --- 4. The checkpoint ----------------------------------------------------------------------------


def check_checkpoint(directory, manifest, pinned):
    ledger = manifest["ledger"]
    try:
        name, _, _ = parse_vkey(ledger["vkey"])
    except (ValueError, binascii.Error, IndexError) as error:
        raise file_failure(MANIFEST, "ledger.vkey: %s" % error)
    if name != ledger["key_name"]:
        raise file_failure(MANIFEST, "ledger.key_name %s is not the name in ledger.vkey" % json.dumps(ledger["key_name"]))
    with open(os.path.join(directory, CHECKPOINT), "rb") as f:
        note = f.read()
    try:
        origin, size, root = verify_checkpoint(note.decode("utf-8"), ledger["vkey"])
    except (ValueError, binascii.Error, IndexError, UnicodeDecodeError) as error:
        raise file_failure(CHECKPOINT, "it does not verify with the key in manifest.json: %s" % error)
    if pinned is not None:
        try:
            given = parse_vkey(pinned)
        except (ValueError, binascii.Error, IndexError) as error:
            raise Failure("the public key given: %s" % error)
        if given != parse_vkey(ledger["vkey"]):
            raise file_failure(MANIFEST, "the package is signed by the key %s, not by the key given, %s: it is not "
                                         "this log's, or was re-signed" % (ledger["vkey"], pinned.strip()))
    if origin != ledger["origin"]:
        raise file_failure(MANIFEST, "it names the log %s, the signed checkpoint %s"
                           % (json.dumps(ledger["origin"]), json.dumps(origin)))
    if size != ledger["tree_size"] or root.hex() != ledger["root_hash"].lower():
        raise file_failure(MANIFEST, "it says the tree of %d leaves with root %s, the signed checkpoint %d leaves "
                                     "with root %s" % (ledger["tree_size"], ledger["root_hash"], size, root.hex()))
    return size, root


# --- 5. The rows ----------------------------------------------------------------------------------


def jsonl_rows(path):
    with open(path, "rb") as f:
        for line in f:
            try:
                row = loads(line)
            except ValueError as error:
                yield None, "is not a JSON object: %s" % error
                continue
            yield (row, None) if isinstance(row, dict) else (None, "is not a JSON object")


def json_cell(name, text):
    try:
        return loads(text)
    except ValueError as error:
        raise ValueError("column %s does not hold JSON text (%s)" % (name, error))


def csv_rows(path):
    """Each CSV row turned back into the JSON object it was written from (see docs/evidence.md)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        header = next(reader, [])
        for i, name in enumerate(header):
            if not name or name in header[:i]:
                raise file_failure(os.path.basename(path), "its header row: column %d is empty or repeated" % (i + 1))
        if "id" not in header:
            raise file_failure(os.path.basename(path), "its header row: there is no id column")
        for cells in reader:
            if len(cells) != len(header):
                yield None, "it has %d cells, the header %d columns" % (len(cells), len(header))
                continue
            try:
                erased = "erased" in header and json_cell("erased", cells[header.index("erased")]) is not None
                row = {}
                for name, cell in zip(header, cells):
                    if name in TEXT_COLUMNS:
                        row[name] = None if cell == "" and name in NULLABLE_TEXT_COLUMNS and erased else cell
                    else:
                        row[name] = json_cell(name, cell)
                yield row, None
            except ValueError as error:
                yield None, str(error)


def read_lines(path):
    with open(path, "rb") as f:
        for line in f:
            yield line


def parse_record_line(line):
    record = loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    required = {"id", "leaf_index", "v", "created_at"}
    optional = {"prediction_id", "salt", "leaf_data", "leaf_hash"}
    if not required <= set(record) <= required | optional:
        raise ValueError("its members are not %s" % ", ".join(sorted(required | optional)))
    types = {"prediction_id": (str, type(None)), "id": str, "created_at": str, "salt": (str, type(None)),
             "leaf_data": (str, type(None)), "leaf_hash": (str, type(None))}
    for name, kinds in types.items():
        if not isinstance(record.get(name), kinds):
            raise ValueError("its %s has the wrong type" % name)
    if not is_count(record["leaf_index"]) or not is_count(record["v"]):
        raise ValueError("its leaf_index or v is not a whole number")
    return record


def label(row, record):
    for value in (row or {}).get("prediction_id"), (record or {}).get("prediction_id"), \
                 (row or {}).get("id"), (record or {}).get("id"):
        if isinstance(value, str):
            return value
    return None


def check_erased(row, record, data):
    """An erased prediction's row against its v2 seal: a prediction's, of this id, and every
    member kept in clear is the row's (created_at: the records line's)."""
    if record.get("salt") is not None:
        raise ValueError("an erased prediction keeps no salt, but its records line gives one")
    if record["v"] != 2:
        raise ValueError("its records line gives v %d with leaf_data; an erased v1 record gives its leaf_hash" % record["v"])
    try:
        seal = loads(data)
    except ValueError:
        seal = None
    if not isinstance(seal, dict) or seal.get("v") != 2 or seal.get("kind") != "prediction" \
            or not isinstance(seal.get("commitment"), str):
        raise ValueError("the leaf data is not a v2 prediction seal")
    if seal.get("id") != row.get("id"):
        raise ValueError("the seal is of another prediction")
    for name, sealed in seal.items():
        if name in ("commitment", "v", "kind", "id"):
            continue
        shown = record["created_at"] if name == "created_at" else row.get(name, check_erased)
        if shown is check_erased or canonical_json(shown) != canonical_json(sealed):
            raise ValueError("its %s differs from the sealed one" % name)


def check_row(number, data_name, row, problem, record_line, proof_line, size, root):
    """Checks one row; returns "erased", "unsalted" or "intact", or raises Failure."""
    if row is None:
        raise row_failure(data_name, number, None, problem)
    try:
        record = parse_record_line(record_line)
    except ValueError as error:
        raise row_failure(RECORDS, number, label(row, None), "is not a records line: %s" % error)
    prediction = label(row, record)

    def in_data(message):
        return row_failure(data_name, number, prediction, message)

    def in_records(message):
        return row_failure(RECORDS, number, prediction, message)

    if row.get("id") != record["id"]:
        raise in_data("its id is not the one of %s line %d (%s): the files are out of step"
                      % (RECORDS, number, json.dumps(record["id"])))
    shown = row.get("prediction_id")
    if shown != record.get("prediction_id") or not isinstance(shown, (str, type(None))):
        raise in_data("its prediction_id is not the one of %s line %d (%s)"
                      % (RECORDS, number, json.dumps(record.get("prediction_id"))))
    erased = row.get("erased") is not None
    leaf_data, given_hash = record.get("leaf_data"), record.get("leaf_hash")
    if leaf_data is not None and given_hash is None:
        try:
            data = base64.b64decode(leaf_data, validate=True)
        except (ValueError, binascii.Error):
            raise in_records("its leaf_data is not base64")
        if erased:
            try:
                check_erased(row, record, data)
            except (ValueError, UnicodeEncodeError) as error:
                raise in_data("erased, does not match its seal (%s line %d): %s" % (RECORDS, number, error))
            kind = "erased"
        else:
            if record["v"] not in (1, 2):
                raise in_data("its records line gives v %d: a prediction's record is v1 or v2" % record["v"])
            document = {}
            for name in DOCUMENT_MEMBERS:
                if name not in row:
                    raise in_data("it has no member %s" % json.dumps(name))
                document[name] = row[name]
            document.update({"v": record["v"], "kind": "prediction", "created_at": record["created_at"]})
            try:
                check_record(document, record.get("salt"), data)
            except (ValueError, UnicodeEncodeError) as error:
                raise in_data("does not match its sealed leaf (%s line %d): %s" % (RECORDS, number, error))
            # The row's tenant is its actor's ("" without one): proven through the actor.
            actor = document["actor"]
            tenant = "" if actor is None else actor.get("tenant_id") if isinstance(actor, dict) else None
            if "tenant_id" in row and row["tenant_id"] != tenant:
                raise in_data("its tenant_id is not its actor's")
            kind = "unsalted" if record["v"] == 1 else "intact"
        leaf = leaf_hash(data)
    elif leaf_data is None and given_hash is not None and erased and record["v"] == 1 and record.get("salt") is None:
        if not is_hex_hash(given_hash):
            raise in_records("its leaf_hash is not 64 hex digits")
        leaf, kind = bytes.fromhex(given_hash), "erased"
    elif given_hash is not None and leaf_data is None:
        raise in_records("it gives a leaf_hash instead of leaf_data, which only an erased v1 record may")
    elif given_hash is not None:
        raise in_records("it gives both leaf_data and leaf_hash")
    else:
        raise in_records("it gives no leaf_data")
    ledger = row.get("ledger")
    if ledger is not None:
        if not isinstance(ledger, dict) or ledger.get("seq") != record["leaf_index"] \
                or ledger.get("leaf_hash") != leaf.hex():
            raise in_data("its ledger member is not leaf %d with the leaf hash of %s line %d"
                          % (record["leaf_index"], RECORDS, number))
    check_leaf(number, prediction, record, leaf, proof_line, size, root)
    return kind


def check_leaf(number, prediction, record, leaf, proof_line, size, root):
    """The leaf is in the checkpoint's tree, and with a proof, its path leads to the root."""
    if record["leaf_index"] >= size:
        raise row_failure(RECORDS, number, prediction,
                          "leaf %d is not in the checkpoint's tree of %d leaves" % (record["leaf_index"], size))
    if proof_line is None:
        return
    try:
        proof = loads(proof_line)
        if not isinstance(proof, dict) or set(proof) != {"leaf_index", "inclusion_path"} \
                or not is_count(proof["leaf_index"]) or not isinstance(proof["inclusion_path"], list):
            raise ValueError("its members are not leaf_index and inclusion_path")
    except ValueError as error:
        raise row_failure(PROOFS, number, prediction, "is not a proofs line: %s" % error)
    if proof["leaf_index"] != record["leaf_index"]:
        raise row_failure(PROOFS, number, prediction, "it is the proof of leaf %d, but %s line %d is leaf %d"
                          % (proof["leaf_index"], RECORDS, number, record["leaf_index"]))
    if not all(is_hex_hash(h) for h in proof["inclusion_path"]):
        raise row_failure(PROOFS, number, prediction, "its inclusion_path holds something other than 64 hex digits")
    path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
    if not verify_inclusion(leaf, record["leaf_index"], size, path, root):
        raise row_failure(PROOFS, number, prediction, "its inclusion path does not lead from the leaf to the "
                                                      "checkpoint's root")


def check_rows(directory, manifest, size, root):
    """Returns (rows, erased, unsalted); raises the first row's Failure."""
    data_name = DATA_FILES[manifest["data_format"]]
    records = read_lines(os.path.join(directory, RECORDS))
    proofs = read_lines(os.path.join(directory, PROOFS)) if manifest["with_proofs"] else None
    counts = {"intact": 0, "unsalted": 0, "erased": 0}
    if manifest["data_format"] == "parquet":
        # The data rows cannot be read here: the leaves are checked against the tree only.
        for number, record_line in enumerate(records, 1):
            proof_line = next(proofs) if proofs is not None else None
            try:
                record = parse_record_line(record_line)
                leaf = record.get("leaf_hash")
                leaf = bytes.fromhex(leaf) if leaf else leaf_hash(base64.b64decode(record["leaf_data"], validate=True))
            except (ValueError, TypeError, binascii.Error) as error:
                raise row_failure(RECORDS, number, None, "is not a records line: %s" % error)
            check_leaf(number, record.get("prediction_id") or record["id"], record, leaf, proof_line, size, root)
            counts["intact"] += 1
        return counts
    rows = jsonl_rows(os.path.join(directory, data_name)) if data_name.endswith(".jsonl") \
        else csv_rows(os.path.join(directory, data_name))
    for number, ((row, problem), record_line) in enumerate(zip(rows, records), 1):
        proof_line = next(proofs) if proofs is not None else None
        counts[check_row(number, data_name, row, problem, record_line, proof_line, size, root)] += 1
    return counts


# --- The whole check ------------------------------------------------------------------------------


def verify_package(directory, pinned=None):
    """Returns a one-line report, or raises the first Failure, in the order of the module doc."""
    manifest = read_manifest(directory)
    check_file_set(directory, manifest)
    try:
        for entry in manifest["files"]:
            check_file(directory, entry)
    except Failure as failure:
        # Name the first row that does not check out too, when the checkpoint lets us look.
        clue = None
        try:
            size, root = check_checkpoint(directory, manifest, pinned)
            check_rows(directory, manifest, size, root)
        except Failure as row:
            clue = row if row.row is not None else None
        except Exception:  # noqa: BLE001 — a clue is optional; the file's failure stands
            pass
        if clue is not None:
            raise Failure("%s; the first row that does not check out: %s" % (failure, clue), failure.file, clue.row)
        raise failure
    size, root = check_checkpoint(directory, manifest, pinned)
    counts = check_rows(directory, manifest, size, root)
    rows = sum(counts.values())
    if manifest["data_format"] != "parquet" and counts["erased"] != manifest["erased_count"]:
        raise file_failure(MANIFEST, "it counts %d erased rows, but the data holds %d"
                           % (manifest["erased_count"], counts["erased"]))
    origin = manifest["ledger"]["origin"]
    report = "package verified: %d rows of the log %s" % (rows, json.dumps(origin))
    if manifest["data_format"] == "parquet":
        report += ("; NOTE: the Parquet data rows were NOT read (this script reads JSONL and CSV): each leaf was "
                   "checked against the signed tree, not against its data row; use `ml-audit verify --package` "
                   "for that")
    else:
        report += ", each record recomputed from its data row and matching its leaf"
        if counts["erased"]:
            report += " (%d erased: checked against what their seal keeps)" % counts["erased"]
    if manifest["with_proofs"]:
        report += "; every leaf proven in the signed tree of %d leaves" % size
    else:
        report += ("; inclusion NOT proven (no proofs in the package): each leaf index is within the signed tree "
                   "of %d leaves" % size)
    report += " (root %s)" % root.hex()
    if pinned is None:
        report += "; signed by the key the manifest names, %s: compare it with the log's key you hold" \
                  % manifest["ledger"]["vkey"]
    else:
        report += "; signed by the key given"
    return report


def main(argv):
    parser = argparse.ArgumentParser(description="Verify an ml-audit evidence package offline.")
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument("--vkey", metavar="VKEY_OR_FILE", help="the log's verifier key, or a file holding it")
    args = parser.parse_args(argv[1:])
    pinned = args.vkey
    if pinned is not None and os.path.exists(pinned):
        with open(pinned, encoding="utf-8") as f:
            pinned = f.read()
    try:
        print(verify_package(args.directory, pinned))
    except Failure as failure:
        print("PACKAGE NOT VERIFIED: %s" % failure, file=sys.stderr)
        return 1
    except OSError as error:
        print("PACKAGE NOT VERIFIED: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
