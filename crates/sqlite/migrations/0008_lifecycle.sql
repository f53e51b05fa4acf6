-- Erasure, retention and legal hold (docs/lifecycle.md). Records written from now on carry a
-- secret salt their ledger leaf commits through (record layout v2, docs/ledger.md); erasing a
-- record blanks its personal content and destroys the salt, and is itself a ledger leaf.

ALTER TABLE predictions ADD COLUMN salt BLOB;
ALTER TABLE explanations ADD COLUMN salt BLOB;

-- One row per erasure (a request, or a retention batch): which leaves it erased, never what
-- they held.
CREATE TABLE erasures (
    id           BLOB PRIMARY KEY NOT NULL,
    reason       TEXT NOT NULL,
    subject      TEXT,
    actor_ref    BLOB,
    tenant_id    TEXT,
    seqs         TEXT NOT NULL,
    unsalted     TEXT NOT NULL,
    predictions  INTEGER NOT NULL,
    explanations INTEGER NOT NULL,
    outcomes     INTEGER NOT NULL,
    reviews      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE INDEX erasures_by_time ON erasures (created_at DESC, id DESC);

-- Every erased record, with the commitment its v2 seal keeps (NULL for a v1 record).
CREATE TABLE erased_records (
    record_id   BLOB PRIMARY KEY NOT NULL,
    erasure_ref BLOB NOT NULL REFERENCES erasures (id),
    commitment  BLOB
) WITHOUT ROWID;

-- An erasure removes its predictions' subject tokens by prediction: without this index each
-- batch of an erasure would read every token.
CREATE INDEX prediction_subjects_by_prediction ON prediction_subjects (prediction_ref);

-- Legal holds: the records matching every scope given. A hold row never changes; its release
-- is a row of its own.
CREATE TABLE holds (
    id           BLOB PRIMARY KEY NOT NULL,
    reason       TEXT NOT NULL,
    tenant_id    TEXT,
    model_name   TEXT,
    subject      TEXT,
    actor_type   TEXT,
    actor_id     TEXT,
    actor_tenant TEXT,
    predictions  TEXT NOT NULL,
    until        INTEGER,
    created_at   INTEGER NOT NULL
);

CREATE TABLE hold_releases (
    id         BLOB PRIMARY KEY NOT NULL,
    hold_ref   BLOB NOT NULL UNIQUE REFERENCES holds (id),
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TRIGGER erasures_are_append_only_update BEFORE UPDATE ON erasures
BEGIN SELECT RAISE(ABORT, 'erasures are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER erasures_are_append_only_delete BEFORE DELETE ON erasures
BEGIN SELECT RAISE(ABORT, 'erasures are append-only: DELETE is not allowed'); END;
CREATE TRIGGER erased_records_are_append_only_update BEFORE UPDATE ON erased_records
BEGIN SELECT RAISE(ABORT, 'erased records are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER erased_records_are_append_only_delete BEFORE DELETE ON erased_records
BEGIN SELECT RAISE(ABORT, 'erased records are append-only: DELETE is not allowed'); END;
CREATE TRIGGER holds_are_append_only_update BEFORE UPDATE ON holds
BEGIN SELECT RAISE(ABORT, 'holds are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER holds_are_append_only_delete BEFORE DELETE ON holds
BEGIN SELECT RAISE(ABORT, 'holds are append-only: DELETE is not allowed'); END;
CREATE TRIGGER hold_releases_are_append_only_update BEFORE UPDATE ON hold_releases
BEGIN SELECT RAISE(ABORT, 'hold releases are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER hold_releases_are_append_only_delete BEFORE DELETE ON hold_releases
BEGIN SELECT RAISE(ABORT, 'hold releases are append-only: DELETE is not allowed'); END;

-- The one change a record may undergo: its erasure, when an erasure whose leaf is in the ledger
-- (appended in the same transaction) names it, blanking exactly the erased columns and keeping
-- the rest.
DROP TRIGGER predictions_are_append_only_update;
CREATE TRIGGER predictions_are_append_only_update BEFORE UPDATE ON predictions
WHEN NOT (
    EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
    AND NEW.id = OLD.id AND NEW.prediction_id = OLD.prediction_id AND NEW.ts = OLD.ts
    AND NEW.model_ref = OLD.model_ref AND NEW.actor_ref IS NULL AND NEW.tenant_id = OLD.tenant_id
    AND NEW.decision_outcome = OLD.decision_outcome AND NEW.status = OLD.status
    AND NEW.confidence IS OLD.confidence AND NEW.created_at = OLD.created_at
    AND NEW.features = 'null' AND NEW.output = 'null' AND NEW.metadata = 'null'
    AND NEW.redactions = '[]' AND NEW.metadata_redactions = '[]' AND NEW.redaction_log = '[]'
    AND NEW.trace_id = '' AND NEW.environment = '' AND NEW.input_fingerprint = '' AND NEW.content_hash = ''
    AND NEW.actor_ip IS NULL AND NEW.actor_user_agent = '' AND NEW.actor_auth_context IS NULL
    AND NEW.latency_ms IS NULL AND NEW.salt IS NULL
)
BEGIN SELECT RAISE(ABORT, 'predictions are append-only: UPDATE is not allowed, except to erase a record that an erasure names'); END;

DROP TRIGGER explanations_are_append_only_update;
CREATE TRIGGER explanations_are_append_only_update BEFORE UPDATE ON explanations
WHEN NOT (
    EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
    AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.revision = OLD.revision
    AND NEW.status = OLD.status AND NEW.generated_at = OLD.generated_at AND NEW.created_at = OLD.created_at
    AND NEW.method = '' AND NEW.method_version = '' AND NEW.payload = 'null' AND NEW.summary_text = ''
    AND NEW.salt IS NULL
)
BEGIN SELECT RAISE(ABORT, 'explanations are append-only: UPDATE is not allowed, except to erase a record that an erasure names'); END;

-- Actor rows hold the identity; the request context is kept per prediction. Rows written
-- before this migration also kept the context first seen (in no ledger leaf): an erasure of one
-- of its predictions may blank it, and nothing else of an actor row may change.
DROP TRIGGER actors_are_append_only_update;
CREATE TRIGGER actors_are_append_only_update BEFORE UPDATE ON actors
WHEN NOT (
    EXISTS (SELECT 1 FROM predictions p JOIN erased_records x ON x.record_id = p.id
                JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE p.actor_ref = OLD.id)
    AND NEW.id = OLD.id AND NEW.actor_type = OLD.actor_type AND NEW.actor_id = OLD.actor_id
    AND NEW.tenant_id = OLD.tenant_id AND NEW.created_at = OLD.created_at
    AND NEW.ip_address IS NULL AND NEW.user_agent = '' AND NEW.auth_context IS NULL
)
BEGIN SELECT RAISE(ABORT, 'actors are append-only: UPDATE is not allowed, except to blank the request context an erasure removes'); END;

-- An erased prediction's subject tokens go with it.
DROP TRIGGER prediction_subjects_are_append_only_delete;
CREATE TRIGGER prediction_subjects_are_append_only_delete BEFORE DELETE ON prediction_subjects
WHEN NOT EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.prediction_ref)
BEGIN SELECT RAISE(ABORT, 'prediction subjects are append-only: DELETE is not allowed, except for an erased prediction'); END;
