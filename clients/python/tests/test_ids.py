"""The prediction ids the client makes before delivery (no server needed)."""

from __future__ import annotations

import time
import uuid

from ml_audit.client import new_prediction_id


def test_ids_are_version_7_uuids_carrying_the_time_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_prediction_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical lower-case 8-4-4-4-12 form
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    earlier = new_prediction_id()
    time.sleep(0.002)
    later = new_prediction_id()
    assert earlier < later  # text order is time order: the server's index grows at its end
    random_parts = {new_prediction_id()[15:] for _ in range(1000)}
    assert len(random_parts) == 1000, "the bits after the timestamp differ"
