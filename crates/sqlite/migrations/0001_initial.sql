-- ml-audit schema, SQLite. Migrations are append-only: never edit a released file, add one.
-- Times are INTEGER microseconds since the Unix epoch (UTC); ids are 16-byte UUID blobs;
-- JSON documents are TEXT exactly as the core serialised them.

CREATE TABLE model_versions (
    id              BLOB PRIMARY KEY NOT NULL,
    model_name      TEXT NOT NULL,
    version         TEXT NOT NULL,
    framework       TEXT NOT NULL DEFAULT '',
    build_id        TEXT NOT NULL DEFAULT '',
    commit_hash     TEXT NOT NULL DEFAULT '',
    config_snapshot TEXT,
    is_active       INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    UNIQUE (model_name, version)
);

CREATE TABLE actors (
    id           BLOB PRIMARY KEY NOT NULL,
    actor_type   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    tenant_id    TEXT NOT NULL DEFAULT '',
    ip_address   TEXT,
    user_agent   TEXT NOT NULL DEFAULT '',
    auth_context TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (actor_type, actor_id, tenant_id)
);

-- The request context (IP, user agent, auth context) is kept per prediction: the actor row
-- holds the identity and what was first seen, the prediction what was sent with it.
CREATE TABLE predictions (
    id                  BLOB PRIMARY KEY NOT NULL,
    prediction_id       TEXT NOT NULL UNIQUE,
    ts                  INTEGER NOT NULL,
    model_ref           BLOB NOT NULL REFERENCES model_versions (id),
    actor_ref           BLOB REFERENCES actors (id),
    tenant_id           TEXT NOT NULL DEFAULT '',
    actor_ip            TEXT,
    actor_user_agent    TEXT NOT NULL DEFAULT '',
    actor_auth_context  TEXT,
    trace_id            TEXT NOT NULL DEFAULT '',
    environment         TEXT NOT NULL DEFAULT '',
    decision_outcome    TEXT NOT NULL DEFAULT '',
    input_fingerprint   TEXT NOT NULL DEFAULT '',
    features            TEXT NOT NULL,
    redactions          TEXT NOT NULL,
    metadata            TEXT NOT NULL,
    metadata_redactions TEXT NOT NULL,
    output              TEXT NOT NULL,
    confidence          REAL,
    status              TEXT NOT NULL,
    latency_ms          REAL,
    content_hash        TEXT NOT NULL,
    created_at          INTEGER NOT NULL
);

CREATE INDEX predictions_by_time ON predictions (ts DESC, id DESC);
CREATE INDEX predictions_by_tenant ON predictions (tenant_id, ts DESC, id DESC);
CREATE INDEX predictions_by_model ON predictions (model_ref, ts DESC, id DESC);
CREATE INDEX predictions_by_actor ON predictions (actor_ref, ts DESC, id DESC);
CREATE INDEX predictions_by_trace ON predictions (trace_id) WHERE trace_id <> '';

CREATE TABLE explanations (
    id             BLOB PRIMARY KEY NOT NULL,
    prediction_ref BLOB NOT NULL REFERENCES predictions (id),
    revision       INTEGER NOT NULL,
    method         TEXT NOT NULL,
    method_version TEXT NOT NULL DEFAULT '',
    payload        TEXT NOT NULL,
    summary_text   TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    generated_at   INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (prediction_ref, revision)
);

CREATE TABLE api_keys (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    tenant_id   TEXT,
    prefix      TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Append-only, enforced by the database itself: recorded history cannot be rewritten, by a
-- bug or by a careless admin with a SQL shell.
CREATE TRIGGER predictions_are_append_only_update BEFORE UPDATE ON predictions
BEGIN SELECT RAISE(ABORT, 'predictions are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER predictions_are_append_only_delete BEFORE DELETE ON predictions
BEGIN SELECT RAISE(ABORT, 'predictions are append-only: DELETE is not allowed'); END;
CREATE TRIGGER explanations_are_append_only_update BEFORE UPDATE ON explanations
BEGIN SELECT RAISE(ABORT, 'explanations are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER explanations_are_append_only_delete BEFORE DELETE ON explanations
BEGIN SELECT RAISE(ABORT, 'explanations are append-only: DELETE is not allowed'); END;
CREATE TRIGGER model_versions_are_append_only_update BEFORE UPDATE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER model_versions_are_append_only_delete BEFORE DELETE ON model_versions
BEGIN SELECT RAISE(ABORT, 'model versions are append-only: DELETE is not allowed'); END;
CREATE TRIGGER actors_are_append_only_update BEFORE UPDATE ON actors
BEGIN SELECT RAISE(ABORT, 'actors are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER actors_are_append_only_delete BEFORE DELETE ON actors
BEGIN SELECT RAISE(ABORT, 'actors are append-only: DELETE is not allowed'); END;
