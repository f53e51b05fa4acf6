-- The access log (docs/evidence.md): who was shown which predictions, and who exported, erased,
-- held or changed keys. Entries are append-only ledger records (v2, unsalted: they hold no
-- personal content). `access_predictions` is derived from `access_entries.predictions` in the
-- same transaction: the index "who has seen this prediction?" reads, newest first.

CREATE TABLE access_entries (
    id               uuid PRIMARY KEY,
    at               timestamptz NOT NULL,
    channel          text NOT NULL,
    action           text NOT NULL,
    route            text NOT NULL,
    key_id           uuid,
    key_name         text NOT NULL,
    scope            text NOT NULL,
    tenant_id        text,
    operator         text NOT NULL,
    filters          text NOT NULL,
    target           text NOT NULL,
    predictions      text NOT NULL,
    prediction_count integer NOT NULL
);

CREATE INDEX access_entries_by_time ON access_entries (at DESC, id DESC);
CREATE INDEX access_entries_by_key ON access_entries (key_id, at DESC, id DESC);
CREATE INDEX access_entries_by_tenant ON access_entries (tenant_id, at DESC, id DESC);

CREATE TABLE access_predictions (
    prediction_ref uuid NOT NULL,
    at             timestamptz NOT NULL,
    entry_ref      uuid NOT NULL,
    PRIMARY KEY (prediction_ref, at, entry_ref)
);

CREATE TRIGGER access_entries_are_append_only BEFORE UPDATE OR DELETE ON access_entries
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('access entries');
CREATE TRIGGER access_entries_are_never_truncated BEFORE TRUNCATE ON access_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('access entries');
CREATE TRIGGER access_predictions_are_append_only BEFORE UPDATE OR DELETE ON access_predictions
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('access entries');
CREATE TRIGGER access_predictions_are_never_truncated BEFORE TRUNCATE ON access_predictions
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('access entries');
