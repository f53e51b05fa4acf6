-- Outcomes (ground truth that arrives later) and human reviews (docs/outcomes.md). Same tables
-- and columns as the SQLite schema. Both are append-only ledger records (record layout v2,
-- salted) that an erasure of their prediction blanks. `prediction_state` and the quality totals
-- are derived data, outside the ledger: each write of an outcome or review updates them in its
-- transaction, and they are never evidence.

ALTER TABLE explanations ADD COLUMN explanation_id text;
ALTER TABLE explanations ADD COLUMN content_hash text;
CREATE UNIQUE INDEX explanations_by_explanation_id ON explanations (explanation_id) WHERE explanation_id IS NOT NULL;

CREATE TABLE outcomes (
    id                  uuid PRIMARY KEY,
    prediction_ref      uuid NOT NULL REFERENCES predictions (id),
    outcome_id          text NOT NULL UNIQUE,
    position            integer NOT NULL,
    label               text,
    value               double precision,
    source              text NOT NULL,
    observed_at         timestamptz NOT NULL,
    metadata            text NOT NULL,
    metadata_redactions text NOT NULL,
    content_hash        text NOT NULL,
    created_at          timestamptz NOT NULL,
    salt                bytea,
    UNIQUE (prediction_ref, position)
);

CREATE TABLE reviews (
    id             uuid PRIMARY KEY,
    prediction_ref uuid NOT NULL REFERENCES predictions (id),
    review_id      text NOT NULL UNIQUE,
    position       integer NOT NULL,
    reviewer_id    text NOT NULL,
    reviewer_name  text NOT NULL,
    action         text NOT NULL,
    final_decision text NOT NULL,
    reason_codes   text NOT NULL,
    comment        text NOT NULL,
    reviewed_at    timestamptz NOT NULL,
    content_hash   text NOT NULL,
    created_at     timestamptz NOT NULL,
    salt           bytea,
    UNIQUE (prediction_ref, position)
);

CREATE TABLE prediction_state (
    prediction_ref      uuid PRIMARY KEY REFERENCES predictions (id),
    ts                  timestamptz NOT NULL,
    model_ref           uuid NOT NULL,
    tenant_id           text NOT NULL,
    outcomes            bigint NOT NULL,
    outcome_ref         uuid,
    outcome_label       text,
    outcome_value       double precision,
    outcome_observed_at timestamptz,
    outcome_position    bigint,
    reviews             bigint NOT NULL,
    has_outcome         bigint NOT NULL,
    reviewed            bigint NOT NULL,
    overridden          bigint NOT NULL,
    final_decision      text,
    review_state        text NOT NULL
);

CREATE INDEX prediction_state_by_label ON prediction_state (outcome_label, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_has_outcome ON prediction_state (has_outcome, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_reviewed ON prediction_state (reviewed, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_overridden ON prediction_state (overridden, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_final_decision ON prediction_state (final_decision, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_review_state ON prediction_state (review_state, ts DESC, prediction_ref DESC);
CREATE INDEX prediction_state_by_model ON prediction_state (model_ref, ts);

CREATE TABLE quality_totals (
    model_ref        uuid NOT NULL,
    hour             bigint NOT NULL, -- hours since the Unix epoch
    tenant_id        text NOT NULL,
    with_outcome     bigint NOT NULL,
    regression_count bigint NOT NULL,
    abs_error        double precision NOT NULL,
    squared_error    double precision NOT NULL,
    reviewed         bigint NOT NULL,
    overridden       bigint NOT NULL,
    PRIMARY KEY (model_ref, hour, tenant_id)
);

CREATE TABLE quality_confusion (
    model_ref   uuid NOT NULL,
    hour        bigint NOT NULL,
    tenant_id   text NOT NULL,
    predicted   text NOT NULL,
    actual      text NOT NULL,
    predictions bigint NOT NULL,
    PRIMARY KEY (model_ref, hour, tenant_id, predicted, actual)
);

ALTER TABLE prediction_state SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);

CREATE FUNCTION ml_audit_erase_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
        AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.outcome_id = OLD.outcome_id
        AND NEW.position = OLD.position AND NEW.observed_at = OLD.observed_at AND NEW.created_at = OLD.created_at
        AND NEW.label IS NULL AND NEW.value IS NULL AND NEW.source = '' AND NEW.metadata = 'null'
        AND NEW.metadata_redactions = '[]' AND NEW.content_hash = '' AND NEW.salt IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'outcomes are append-only: % is not allowed, except to erase a record that an erasure names', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

CREATE FUNCTION ml_audit_erase_review() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
        AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.review_id = OLD.review_id
        AND NEW.position = OLD.position AND NEW.action = OLD.action AND NEW.reviewed_at = OLD.reviewed_at
        AND NEW.created_at = OLD.created_at
        AND NEW.reviewer_id = '' AND NEW.reviewer_name = '' AND NEW.final_decision = '' AND NEW.reason_codes = '[]'
        AND NEW.comment = '' AND NEW.content_hash = '' AND NEW.salt IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'reviews are append-only: % is not allowed, except to erase a record that an erasure names', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER outcomes_are_append_only BEFORE UPDATE OR DELETE ON outcomes
    FOR EACH ROW EXECUTE FUNCTION ml_audit_erase_outcome();
CREATE TRIGGER outcomes_are_never_truncated BEFORE TRUNCATE ON outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('outcomes');
CREATE TRIGGER reviews_are_append_only BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION ml_audit_erase_review();
CREATE TRIGGER reviews_are_never_truncated BEFORE TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('reviews');

-- An erased explanation also loses its content fingerprint; its explanation_id stays (a retry
-- is refused, not recorded again).
CREATE OR REPLACE FUNCTION ml_audit_erase_explanation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM erased_records x JOIN ledger_entries l ON l.record_id = x.erasure_ref AND l.kind = 'erasure' WHERE x.record_id = OLD.id)
        AND NEW.id = OLD.id AND NEW.prediction_ref = OLD.prediction_ref AND NEW.revision = OLD.revision
        AND NEW.status = OLD.status AND NEW.generated_at = OLD.generated_at AND NEW.created_at = OLD.created_at
        AND NEW.explanation_id IS NOT DISTINCT FROM OLD.explanation_id
        AND NEW.method = '' AND NEW.method_version = '' AND NEW.payload = 'null' AND NEW.summary_text = ''
        AND NEW.content_hash = '' AND NEW.salt IS NULL
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'explanations are append-only: % is not allowed, except to erase a record that an erasure names', TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;
