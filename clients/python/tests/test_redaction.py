"""Key-name redaction: the shared vectors (tests/vectors/redaction_key_rules.json), checked
against the client's engine and against the real server's (started with each vector's config)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ml_audit import RedactionRules
from ml_audit._transport import Connection
from ml_audit.conf import get_redaction_config
from ml_audit.testing import MLAuditServer

VECTORS_PATH = Path(__file__).parent / "vectors" / "redaction_key_rules.json"
VECTORS: List[Dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def rules_for(config: Dict[str, Any]) -> RedactionRules:
    return RedactionRules(config["allowlist"], config["denylist"], config["mask_value"])


def test_vectors_are_well_formed() -> None:
    assert isinstance(VECTORS, list) and len(VECTORS) >= 15
    names = [case["name"] for case in VECTORS]
    assert len(names) == len(set(names)), "vector names must be unique"
    for case in VECTORS:
        assert set(case) == {"name", "config", "features", "expected"}, case["name"]
        assert set(case["config"]) == {"allowlist", "denylist", "mask_value"}, case["name"]
        assert isinstance(case["features"], dict) and isinstance(case["expected"], dict)


@pytest.mark.parametrize("case", VECTORS, ids=[case["name"] for case in VECTORS])
def test_client_engine_matches_vector(case: Dict[str, Any]) -> None:
    features = json.loads(json.dumps(case["features"]))
    redacted = rules_for(case["config"]).redact(features)
    assert redacted == case["expected"]
    # The input is never modified in place.
    assert features == case["features"]


def test_server_engine_matches_vectors(tmp_path: Path) -> None:
    """The same vectors through the server's engine: raw features posted over HTTP (no client
    redaction), one server per distinct config, read back as stored."""
    by_config: Dict[str, List[Dict[str, Any]]] = {}
    for case in VECTORS:
        by_config.setdefault(json.dumps(case["config"], sort_keys=True), []).append(case)
    for index, (config_json, cases) in enumerate(by_config.items()):
        config = json.loads(config_json)
        env = {"ML_AUDIT_REDACTION_MASK_VALUE": config["mask_value"]}
        if config["allowlist"]:
            env["ML_AUDIT_REDACTION_ALLOWLIST"] = ",".join(config["allowlist"])
        if config["denylist"]:
            env["ML_AUDIT_REDACTION_DENYLIST"] = ",".join(config["denylist"])
        with MLAuditServer(str(tmp_path / f"config-{index}"), env=env) as server:
            conn = Connection(server.url, server.admin_key, 30)
            events = [
                {
                    "prediction_id": f"vector-{uuid.uuid4()}",
                    "model_name": "redaction-vectors",
                    "model_version": "1",
                    "features": case["features"],
                    "output": None,
                }
                for case in cases
            ]
            status, body, _ = conn.request(
                "POST", "/api/v1/predictions/batch", json.dumps({"events": events}).encode()
            )
            assert status == 200, body
            results = json.loads(body)["results"]
            assert [r["status"] for r in results] == [201] * len(cases), results
            for case, event in zip(cases, events):
                status, body, _ = conn.request("GET", f"/api/v1/predictions/{event['prediction_id']}")
                assert status == 200, body
                stored = json.loads(body)
                assert stored["features"] == case["expected"], case["name"]
            conn.close()


def test_paths_are_reported_like_the_server() -> None:
    rules = RedactionRules()
    value, paths = rules.redact_with_paths(
        {"customer": {"email": "x"}, "items": [{"card_number": "y"}], "first email": "z"}
    )
    assert value == {"customer": {"email": "*****"}, "items": [{"card_number": "*****"}], "first email": "*****"}
    assert paths == ["$.customer.email", "$.items[0].card_number", '$["first email"]']


def test_setting_shapes() -> None:
    rules = RedactionRules.from_setting(
        {"ALLOWLIST": ["age"], "DENYLIST": ["national_id"], "MASK_VALUE": "[redacted]"}
    )
    assert rules.redact({"age": 1, "national_id": "x", "email": "y"}) == {
        "age": 1,
        "national_id": "[redacted]",
        "email": "[redacted]",
    }
    assert rules.is_sensitive("EMAIL") and not rules.is_sensitive("age")
    assert RedactionRules.from_setting(None).mask_value == "*****"
    lower = RedactionRules.from_setting({"allowlist": "a, b", "mask_value": "#"})
    assert lower.allowlist == ["a", "b"] and lower.mask_value == "#"
    assert get_redaction_config({"DENYLIST": ["x"]}).redact({"x": 1}) == {"x": "*****"}


def test_the_redacted_copy_shares_nothing_mutable_with_the_input() -> None:
    # A background event is encoded after the call returns: what the caller changes afterwards
    # must not reach it, at any depth, allowlisted parts included.
    class Scores(list):  # a list subclass: redacted inside too
        pass

    rules = RedactionRules(allowlist=["raw"])
    features = {
        "age": 1,
        "nested": {"country": "fr", "email": "x"},
        "items": [1, {"token": "t", "n": [1]}],
        "pair": (1, {"phone": "p"}),
        "tags": {"a"},
        "day": dt.date(2026, 1, 2),
        "scores": Scores([{"ssn": "s"}]),
        "raw": {"email": "kept", "list": [1]},
    }
    redacted = rules.redact(features)
    expected = {
        "age": 1,
        "nested": {"country": "fr", "email": "*****"},
        "items": [1, {"token": "*****", "n": [1]}],
        "pair": [1, {"phone": "*****"}],
        "tags": ["a"],
        "day": "2026-01-02",
        "scores": [{"ssn": "*****"}],
        "raw": {"email": "kept", "list": [1]},
    }
    assert redacted == expected
    features["age"] = 2
    features["nested"]["country"] = "de"
    features["items"][1]["n"].append(2)
    features["pair"][1]["x"] = 1
    features["tags"].add("b")
    features["scores"].append(3)
    features["raw"]["list"].append(2)
    assert redacted == expected
