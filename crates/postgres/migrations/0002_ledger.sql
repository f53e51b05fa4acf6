-- The tamper-evident ledger (see docs/ledger.md). Same tables and columns as the SQLite schema.

-- Records written but not yet sealed. Filled in the transaction that writes the record, emptied
-- by the sealer in the transaction that appends the leaf: the only table rows leave.
-- queue_id only orders the queue: it is taken at insert, not at commit, so it may have holes
-- and commit out of order. The ledger's own order is ledger_entries.seq.
CREATE TABLE ledger_queue (
    queue_id  bigserial PRIMARY KEY,
    kind      text NOT NULL,
    record_id uuid NOT NULL UNIQUE
);

-- One leaf per record, seq 0, 1, 2, … without gaps; leaf_hash = SHA-256(0x00 ‖ JCS(record)).
-- Sealers append under a transaction-level advisory lock, so seq is assigned to committed
-- queue rows one sealer at a time, however many replicas run one.
CREATE TABLE ledger_entries (
    seq       bigint PRIMARY KEY,
    kind      text NOT NULL,
    record_id uuid NOT NULL UNIQUE,
    leaf_hash bytea NOT NULL,
    sealed_at timestamptz NOT NULL
);

-- Signed tree heads (C2SP signed notes) and the compact range they were computed from.
CREATE TABLE ledger_checkpoints (
    tree_size  bigint PRIMARY KEY,
    root_hash  bytea NOT NULL,
    note       text NOT NULL,
    frontier   bytea NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TRIGGER ledger_entries_are_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('ledger entries');
CREATE TRIGGER ledger_entries_are_never_truncated BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('ledger entries');
CREATE TRIGGER ledger_checkpoints_are_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('ledger checkpoints');
CREATE TRIGGER ledger_checkpoints_are_never_truncated BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('ledger checkpoints');

-- Records written before the ledger existed are sealed first, in the order they were written.
-- The lock (held until this migration commits) waits for writes already in flight on a replica
-- that has not been upgraded, so that none of them is committed after the copy and missed.
LOCK TABLE predictions, explanations IN SHARE MODE;
INSERT INTO ledger_queue (kind, record_id)
SELECT kind, id FROM (
    SELECT 'prediction' AS kind, id, created_at FROM predictions
    UNION ALL
    SELECT 'explanation' AS kind, id, created_at FROM explanations
) AS existing
ORDER BY created_at, id;
