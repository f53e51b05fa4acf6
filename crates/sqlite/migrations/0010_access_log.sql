-- The access log (docs/evidence.md): who was shown which predictions, and who exported, erased,
-- held or changed keys. Entries are append-only ledger records (v2, unsalted: they hold no
-- personal content). `access_predictions` is derived from `access_entries.predictions` in the
-- same transaction: the index "who has seen this prediction?" reads, newest first.

CREATE TABLE access_entries (
    id               BLOB PRIMARY KEY NOT NULL,
    at               INTEGER NOT NULL,
    channel          TEXT NOT NULL,
    action           TEXT NOT NULL,
    route            TEXT NOT NULL,
    key_id           BLOB,
    key_name         TEXT NOT NULL,
    scope            TEXT NOT NULL,
    tenant_id        TEXT,
    operator         TEXT NOT NULL,
    filters          TEXT NOT NULL,
    target           TEXT NOT NULL,
    predictions      TEXT NOT NULL,
    prediction_count INTEGER NOT NULL
);

CREATE INDEX access_entries_by_time ON access_entries (at DESC, id DESC);
CREATE INDEX access_entries_by_key ON access_entries (key_id, at DESC, id DESC);
CREATE INDEX access_entries_by_tenant ON access_entries (tenant_id, at DESC, id DESC);

CREATE TABLE access_predictions (
    prediction_ref BLOB NOT NULL,
    at             INTEGER NOT NULL,
    entry_ref      BLOB NOT NULL,
    PRIMARY KEY (prediction_ref, at, entry_ref)
) WITHOUT ROWID;

CREATE TRIGGER access_entries_are_append_only_update BEFORE UPDATE ON access_entries
BEGIN SELECT RAISE(ABORT, 'access entries are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER access_entries_are_append_only_delete BEFORE DELETE ON access_entries
BEGIN SELECT RAISE(ABORT, 'access entries are append-only: DELETE is not allowed'); END;
CREATE TRIGGER access_predictions_are_append_only_update BEFORE UPDATE ON access_predictions
BEGIN SELECT RAISE(ABORT, 'access entries are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER access_predictions_are_append_only_delete BEFORE DELETE ON access_predictions
BEGIN SELECT RAISE(ABORT, 'access entries are append-only: DELETE is not allowed'); END;
