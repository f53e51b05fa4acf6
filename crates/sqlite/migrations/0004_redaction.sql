-- Redaction, phase 2: each prediction's redaction log (where, by which rule, which action; never
-- the value), and the pseudonyms its `hash` redactions made, indexed for subject lookup
-- (`GET /api/v1/predictions?subject=`). The raw values are never stored.

ALTER TABLE predictions ADD COLUMN redaction_log TEXT NOT NULL DEFAULT '[]';

CREATE TABLE prediction_subjects (
    token          TEXT NOT NULL,
    prediction_ref BLOB NOT NULL REFERENCES predictions (id),
    ts             INTEGER NOT NULL,
    tenant_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (token, prediction_ref)
) WITHOUT ROWID;

CREATE INDEX prediction_subjects_by_token ON prediction_subjects (token, ts DESC, prediction_ref DESC);

CREATE TRIGGER prediction_subjects_are_append_only_update BEFORE UPDATE ON prediction_subjects
BEGIN SELECT RAISE(ABORT, 'prediction subjects are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER prediction_subjects_are_append_only_delete BEFORE DELETE ON prediction_subjects
BEGIN SELECT RAISE(ABORT, 'prediction subjects are append-only: DELETE is not allowed'); END;
