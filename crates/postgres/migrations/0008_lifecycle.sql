-- Erasure, retention and legal hold (docs/lifecycle.md). Same tables and columns as the SQLite
-- schema. Records written from now on carry a secret salt their ledger leaf commits through
-- (record layout v2, docs/ledger.md); erasing a record blanks its personal content and destroys
-- the salt, and is itself a ledger leaf.

ALTER TABLE predictions ADD COLUMN salt bytea;
ALTER TABLE explanations ADD COLUMN salt bytea;

CREATE TABLE erasures (
    id           uuid PRIMARY KEY,
    reason       text NOT NULL,
    subject      text,
    actor_ref    uuid,
    tenant_id    text,
    seqs         text NOT NULL,
    unsalted     text NOT NULL,
    predictions  bigint NOT NULL,
    explanations bigint NOT NULL,
    outcomes     bigint NOT NULL,
    reviews      bigint NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE INDEX erasures_by_time ON erasures (created_at DESC, id DESC);

CREATE TABLE erased_records (
    record_id   uuid PRIMARY KEY,
    erasure_ref uuid NOT NULL REFERENCES erasures (id),
    commitment  bytea
);

-- An erasure removes its predictions' subject tokens by prediction: without this index each
-- batch of an erasure would read every token.
CREATE INDEX prediction_subjects_by_prediction ON prediction_subjects (prediction_ref);

CREATE TABLE holds (
    id           uuid PRIMARY KEY,
    reason       text NOT NULL,
    tenant_id    text,
    model_name   text,
    subject      text,
    actor_type   text,
    actor_id     text,
    actor_tenant text,
    predictions  text NOT NULL,
    until        timestamptz,
    created_at   timestamptz NOT NULL
);

CREATE TABLE hold_releases (
    id         uuid PRIMARY KEY,
    hold_ref   uuid NOT NULL UNIQUE REFERENCES holds (id),
    reason     text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TRIGGER erasures_are_append_only BEFORE UPDATE OR DELETE ON erasures
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('erasures');
CREATE TRIGGER erasures_are_never_truncated BEFORE TRUNCATE ON erasures
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('erasures');
CREATE TRIGGER erased_records_are_append_only BEFORE UPDATE OR DELETE ON erased_records
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('erased records');
CREATE TRIGGER erased_records_are_never_truncated BEFORE TRUNCATE ON erased_records
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('erased records');
CREATE TRIGGER holds_are_append_only BEFORE UPDATE OR DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('holds');
CREATE TRIGGER holds_are_never_truncated BEFORE TRUNCATE ON holds
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('holds');
CREATE TRIGGER hold_releases_are_append_only BEFORE UPDATE OR DELETE ON hold_releases
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('hold releases');
CREATE TRIGGER hold_releases_are_never_truncated BEFORE TRUNCATE ON hold_releases
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('hold releases');

-- The one change a record may undergo: its erasure, when an erasure whose leaf is in the ledger
-- (appended in the same transaction) names it, blanking exactly the erased columns and keeping
-- the rest. DELETE and TRUNCATE stay refused (the statement triggers of 0001 are untouched).
CREATE FUNCTION ml_audit_erase_prediction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
        AND NEW.id = OLD.id AND NEW.prediction_id = OLD.prediction_id AND NEW.ts = OLD.ts
        AND NEW.model_ref = OLD.model_ref AND NEW.actor_ref IS NULL
        AND NEW.tenant_id = OLD.tenant_id AND NEW.decision_outcome = OLD.decision_outcome
        AND NEW.status = OLD.status AND NEW.confidence IS NOT DISTINCT FROM OLD.confidence
        AND NEW.created_at = OLD.created_at
        AND NEW.features = 'null' AND NEW.output = 'null' AND NEW.metadata = 'null'
        AND NEW.redactions = '[]' AND NEW.metadata_redactions = '[]' AND NEW.redaction_log = '[]'
        AND NEW.trace_id = '' AND NEW.environment = '' AND NEW.input_fingerprint = '' AND NEW.content_hash = ''
        AND NEW.actor_ip IS NULL AND NEW.actor_user_agent = '' AND NEW.actor_auth_context IS NULL
        AND NEW.latency_ms IS NULL AND NEW.salt IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'predictions are append-only: % is not allowed, except to erase a record that an erasure names', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

CREATE FUNCTION ml_audit_erase_explanation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
        AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.revision = OLD.revision
        AND NEW.status = OLD.status AND NEW.generated_at = OLD.generated_at AND NEW.created_at = OLD.created_at
        AND NEW.method = '' AND NEW.method_version = '' AND NEW.payload = 'null' AND NEW.summary_text = ''
        AND NEW.salt IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'explanations are append-only: % is not allowed, except to erase a record that an erasure names', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

CREATE FUNCTION ml_audit_forget_subject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.prediction_ref) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'prediction subjects are append-only: % is not allowed, except for an erased prediction', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

-- Actor rows hold the identity; the request context is kept per prediction. Rows written
-- before this migration also kept the context first seen (in no ledger leaf): an erasure of one
-- of its predictions may blank it, and nothing else of an actor row may change.
CREATE FUNCTION ml_audit_blank_actor_context() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM predictions p JOIN erased_records x ON x.record_id = p.id
                JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE p.actor_ref = OLD.id)
        AND NEW.id = OLD.id AND NEW.actor_type = OLD.actor_type AND NEW.actor_id = OLD.actor_id
        AND NEW.tenant_id = OLD.tenant_id AND NEW.created_at = OLD.created_at
        AND NEW.ip_address IS NULL AND NEW.user_agent = '' AND NEW.auth_context IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'actors are append-only: % is not allowed, except to blank the request context an erasure removes', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

DROP TRIGGER actors_are_append_only ON actors;
CREATE TRIGGER actors_are_append_only BEFORE UPDATE OR DELETE ON actors
    FOR EACH ROW EXECUTE FUNCTION ml_audit_blank_actor_context();
DROP TRIGGER predictions_are_append_only ON predictions;
CREATE TRIGGER predictions_are_append_only BEFORE UPDATE OR DELETE ON predictions
    FOR EACH ROW EXECUTE FUNCTION ml_audit_erase_prediction();
DROP TRIGGER explanations_are_append_only ON explanations;
CREATE TRIGGER explanations_are_append_only BEFORE UPDATE OR DELETE ON explanations
    FOR EACH ROW EXECUTE FUNCTION ml_audit_erase_explanation();
DROP TRIGGER prediction_subjects_are_append_only ON prediction_subjects;
CREATE TRIGGER prediction_subjects_are_append_only BEFORE UPDATE OR DELETE ON prediction_subjects
    FOR EACH ROW EXECUTE FUNCTION ml_audit_forget_subject();
