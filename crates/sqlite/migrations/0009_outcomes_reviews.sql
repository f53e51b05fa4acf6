-- Outcomes (ground truth that arrives later) and human reviews (docs/outcomes.md). Both are
-- append-only ledger records (record layout v2, salted) that an erasure of their prediction
-- blanks. `prediction_state` and the quality totals are derived data, outside the ledger: each
-- write of an outcome or review updates them in its transaction, and they are never evidence.

-- Explanations become idempotent by the client's explanation_id.
ALTER TABLE explanations ADD COLUMN explanation_id TEXT;
ALTER TABLE explanations ADD COLUMN content_hash TEXT;
CREATE UNIQUE INDEX explanations_by_explanation_id ON explanations (explanation_id) WHERE explanation_id IS NOT NULL;

CREATE TABLE outcomes (
    id                  BLOB PRIMARY KEY NOT NULL,
    prediction_ref      BLOB NOT NULL REFERENCES predictions (id),
    outcome_id          TEXT NOT NULL UNIQUE,
    position            INTEGER NOT NULL,
    label               TEXT,
    value               REAL,
    source              TEXT NOT NULL,
    observed_at         INTEGER NOT NULL,
    metadata            TEXT NOT NULL,
    metadata_redactions TEXT NOT NULL,
    content_hash        TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    salt                BLOB,
    UNIQUE (prediction_ref, position)
);

CREATE TABLE reviews (
    id             BLOB PRIMARY KEY NOT NULL,
    prediction_ref BLOB NOT NULL REFERENCES predictions (id),
    review_id      TEXT NOT NULL UNIQUE,
    position       INTEGER NOT NULL,
    reviewer_id    TEXT NOT NULL,
    reviewer_name  TEXT NOT NULL,
    action         TEXT NOT NULL,
    final_decision TEXT NOT NULL,
    reason_codes   TEXT NOT NULL,
    comment        TEXT NOT NULL,
    reviewed_at    INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    salt           BLOB,
    UNIQUE (prediction_ref, position)
);

-- Per prediction with an outcome or a review: its current outcome and its decision after
-- review, with the prediction's time, model and tenant copied so that each list filter walks
-- an index of its own in page order. final_decision is NULL unless a review changed it.
CREATE TABLE prediction_state (
    prediction_ref      BLOB PRIMARY KEY NOT NULL REFERENCES predictions (id),
    ts                  INTEGER NOT NULL,
    model_ref           BLOB NOT NULL,
    tenant_id           TEXT NOT NULL,
    outcomes            INTEGER NOT NULL,
    outcome_ref         BLOB,
    outcome_label       TEXT,
    outcome_value       REAL,
    outcome_observed_at INTEGER,
    outcome_position    INTEGER,
    reviews             INTEGER NOT NULL,
    has_outcome         INTEGER NOT NULL,
    reviewed            INTEGER NOT NULL,
    overridden          INTEGER NOT NULL,
    final_decision      TEXT,
    review_state        TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX prediction_state_by_label ON prediction_state (outcome_label, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_has_outcome ON prediction_state (has_outcome, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_reviewed ON prediction_state (reviewed, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_overridden ON prediction_state (overridden, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_final_decision ON prediction_state (final_decision, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_review_state ON prediction_state (review_state, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_model ON prediction_state (model_ref, ts);

-- Quality running totals per model version, hour of the prediction's timestamp (hours since
-- the Unix epoch) and tenant; the confusion counts per (predicted, actual) label.
CREATE TABLE quality_totals (
    model_ref        BLOB NOT NULL,
    hour             INTEGER NOT NULL,
    tenant_id        TEXT NOT NULL,
    with_outcome     INTEGER NOT NULL,
    regression_count INTEGER NOT NULL,
    abs_error        REAL NOT NULL,
    squared_error    REAL NOT NULL,
    reviewed         INTEGER NOT NULL,
    overridden       INTEGER NOT NULL,
    PRIMARY KEY (model_ref, hour, tenant_id)
) WITHOUT ROWID;

CREATE TABLE quality_confusion (
    model_ref   BLOB NOT NULL,
    hour        INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    predicted   TEXT NOT NULL,
    actual      TEXT NOT NULL,
    predictions INTEGER NOT NULL,
    PRIMARY KEY (model_ref, hour, tenant_id, predicted, actual)
) WITHOUT ROWID;

CREATE TRIGGER outcomes_are_append_only_update BEFORE UPDATE ON outcomes
WHEN NOT (
    EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
    AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.outcome_id = OLD.outcome_id
    AND NEW.position = OLD.position AND NEW.observed_at = OLD.observed_at AND NEW.created_at = OLD.created_at
    AND NEW.label IS NULL AND NEW.value IS NULL AND NEW.source = '' AND NEW.metadata = 'null'
    AND NEW.metadata_redactions = '[]' AND NEW.content_hash = '' AND NEW.salt IS NULL
)
BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: UPDATE is not allowed, except to erase a record that an erasure names'); END;
CREATE TRIGGER outcomes_are_append_only_delete BEFORE DELETE ON outcomes
BEGIN SELECT RAISE(ABORT, 'outcomes are append-only: DELETE is not allowed'); END;

CREATE TRIGGER reviews_are_append_only_update BEFORE UPDATE ON reviews
WHEN NOT (
    EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
    AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.review_id = OLD.review_id
    AND NEW.position = OLD.position AND NEW.action = OLD.action AND NEW.reviewed_at = OLD.reviewed_at
    AND NEW.created_at = OLD.created_at
    AND NEW.reviewer_id = '' AND NEW.reviewer_name = '' AND NEW.final_decision = '' AND NEW.reason_codes = '[]'
    AND NEW.comment = '' AND NEW.content_hash = '' AND NEW.salt IS NULL
)
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: UPDATE is not allowed, except to erase a record that an erasure names'); END;
CREATE TRIGGER reviews_are_append_only_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only: DELETE is not allowed'); END;

-- An erased explanation also loses its content fingerprint; its explanation_id stays (a retry
-- is refused, not recorded again).
DROP TRIGGER explanations_are_append_only_update;
CREATE TRIGGER explanations_are_append_only_update BEFORE UPDATE ON explanations
WHEN NOT (
    EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
    AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.revision = OLD.revision
    AND NEW.status = OLD.status AND NEW.generated_at = OLD.generated_at AND NEW.created_at = OLD.created_at
    AND NEW.explanation_id IS OLD.explanation_id
    AND NEW.method = '' AND NEW.method_version = '' AND NEW.payload = 'null' AND NEW.summary_text = ''
    AND NEW.content_hash = '' AND NEW.salt IS NULL
)
BEGIN SELECT RAISE(ABORT, 'explanations are append-only: UPDATE is not allowed, except to erase a record that an erasure names'); END;
