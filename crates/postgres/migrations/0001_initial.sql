-- ml-audit schema, PostgreSQL. Migrations are append-only: never edit a released file, add one.
-- Same tables, columns and indexes as the SQLite schema. Times are timestamptz (microseconds,
-- like the core); ids are native uuids; JSON documents are TEXT exactly as the core serialised
-- them, not jsonb, which would reorder keys and change the bytes a ledger hashes.

CREATE TABLE model_versions (
    id              uuid PRIMARY KEY,
    model_name      text NOT NULL,
    version         text NOT NULL,
    framework       text NOT NULL DEFAULT '',
    build_id        text NOT NULL DEFAULT '',
    commit_hash     text NOT NULL DEFAULT '',
    config_snapshot text,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    UNIQUE (model_name, version)
);

CREATE TABLE actors (
    id           uuid PRIMARY KEY,
    actor_type   text NOT NULL,
    actor_id     text NOT NULL,
    tenant_id    text NOT NULL DEFAULT '',
    ip_address   text,
    user_agent   text NOT NULL DEFAULT '',
    auth_context text,
    created_at   timestamptz NOT NULL,
    UNIQUE (actor_type, actor_id, tenant_id)
);

-- The request context (IP, user agent, auth context) is kept per prediction: the actor row
-- holds the identity and what was first seen, the prediction what was sent with it.
CREATE TABLE predictions (
    id                  uuid PRIMARY KEY,
    prediction_id       text NOT NULL UNIQUE,
    ts                  timestamptz NOT NULL,
    model_ref           uuid NOT NULL REFERENCES model_versions (id),
    actor_ref           uuid REFERENCES actors (id),
    tenant_id           text NOT NULL DEFAULT '',
    actor_ip            text,
    actor_user_agent    text NOT NULL DEFAULT '',
    actor_auth_context  text,
    trace_id            text NOT NULL DEFAULT '',
    environment         text NOT NULL DEFAULT '',
    decision_outcome    text NOT NULL DEFAULT '',
    input_fingerprint   text NOT NULL DEFAULT '',
    features            text NOT NULL,
    redactions          text NOT NULL,
    metadata            text NOT NULL,
    metadata_redactions text NOT NULL,
    output              text NOT NULL,
    confidence          double precision,
    status              text NOT NULL,
    latency_ms          double precision,
    content_hash        text NOT NULL,
    created_at          timestamptz NOT NULL
);

CREATE INDEX predictions_by_time ON predictions (ts DESC, id DESC);
CREATE INDEX predictions_by_tenant ON predictions (tenant_id, ts DESC, id DESC);
CREATE INDEX predictions_by_model ON predictions (model_ref, ts DESC, id DESC);
CREATE INDEX predictions_by_actor ON predictions (actor_ref, ts DESC, id DESC);
CREATE INDEX predictions_by_trace ON predictions (trace_id) WHERE trace_id <> '';

CREATE TABLE explanations (
    id             uuid PRIMARY KEY,
    prediction_ref uuid NOT NULL REFERENCES predictions (id),
    revision       integer NOT NULL,
    method         text NOT NULL,
    method_version text NOT NULL DEFAULT '',
    payload        text NOT NULL,
    summary_text   text NOT NULL DEFAULT '',
    status         text NOT NULL,
    generated_at   timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    UNIQUE (prediction_ref, revision)
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    scope       text NOT NULL,
    tenant_id   text,
    prefix      text NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- Append-only, enforced by the database itself: recorded history cannot be rewritten, by a
-- bug or by a careless admin with a SQL shell. TRUNCATE skips row triggers, hence the
-- statement triggers. The argument is the records' name for the message.
CREATE FUNCTION ml_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % is not allowed', TG_ARGV[0], TG_OP
        USING TABLE = TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER predictions_are_append_only BEFORE UPDATE OR DELETE ON predictions
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('predictions');
CREATE TRIGGER predictions_are_never_truncated BEFORE TRUNCATE ON predictions
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('predictions');
CREATE TRIGGER explanations_are_append_only BEFORE UPDATE OR DELETE ON explanations
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('explanations');
CREATE TRIGGER explanations_are_never_truncated BEFORE TRUNCATE ON explanations
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('explanations');
CREATE TRIGGER model_versions_are_append_only BEFORE UPDATE OR DELETE ON model_versions
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('model versions');
CREATE TRIGGER model_versions_are_never_truncated BEFORE TRUNCATE ON model_versions
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('model versions');
CREATE TRIGGER actors_are_append_only BEFORE UPDATE OR DELETE ON actors
    FOR EACH ROW EXECUTE FUNCTION ml_audit_refuse_change('actors');
CREATE TRIGGER actors_are_never_truncated BEFORE TRUNCATE ON actors
    FOR EACH STATEMENT EXECUTE FUNCTION ml_audit_refuse_change('actors');
