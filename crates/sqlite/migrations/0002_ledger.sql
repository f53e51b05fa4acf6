-- The tamper-evident ledger (see docs/ledger.md).

-- Records written but not yet sealed. Filled in the transaction that writes the record, emptied
-- by the sealer in the transaction that appends the leaf: the only table rows leave.
CREATE TABLE ledger_queue (
    queue_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    record_id BLOB NOT NULL UNIQUE
);

-- One leaf per record, seq 0, 1, 2, … without gaps; leaf_hash = SHA-256(0x00 ‖ JCS(record)).
CREATE TABLE ledger_entries (
    seq       INTEGER PRIMARY KEY NOT NULL,
    kind      TEXT NOT NULL,
    record_id BLOB NOT NULL UNIQUE,
    leaf_hash BLOB NOT NULL,
    sealed_at INTEGER NOT NULL
);

-- Signed tree heads (C2SP signed notes) and the compact range they were computed from.
CREATE TABLE ledger_checkpoints (
    tree_size  INTEGER PRIMARY KEY NOT NULL,
    root_hash  BLOB NOT NULL,
    note       TEXT NOT NULL,
    frontier   BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TRIGGER ledger_entries_are_append_only_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER ledger_entries_are_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE is not allowed'); END;
CREATE TRIGGER ledger_checkpoints_are_append_only_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger checkpoints are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER ledger_checkpoints_are_append_only_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger checkpoints are append-only: DELETE is not allowed'); END;

-- Records written before the ledger existed are sealed first, in the order they were written.
INSERT INTO ledger_queue (kind, record_id)
SELECT kind, id FROM (
    SELECT 'prediction' AS kind, id, created_at FROM predictions
    UNION ALL
    SELECT 'explanation' AS kind, id, created_at FROM explanations
) ORDER BY created_at, id;
