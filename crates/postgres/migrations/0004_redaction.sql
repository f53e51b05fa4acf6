-- Redaction, phase 2: each prediction's redaction log (where, by which rule, which action; never
-- the value), and the pseudonyms its `hash` redactions made, indexed for subject lookup
-- (`GET /api/v1/predictions?subject=`). The raw values are never stored.

ALTER TABLE predictions ADD COLUMN redaction_log text NOT NULL DEFAULT '[]';

CREATE TABLE prediction_subjects (
    token          text NOT NULL,
    prediction_ref uuid NOT NULL REFERENCES predictions (id),
    ts             timestamptz NOT NULL,
    tenant_id      text NOT NULL DEFAULT '',
    PRIMARY KEY (token, prediction_ref)
);

CREATE INDEX prediction_subjects_by_token ON prediction_subjects (token, ts DESC, prediction_ref DESC);

CREATE TRIGGER prediction_subjects_are_append_only BEFORE UPDATE OR DELETE ON prediction_subjects
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('prediction subjects');
CREATE TRIGGER prediction_subjects_are_never_truncated BEFORE TRUNCATE ON prediction_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('prediction subjects');
