-- Running totals for the admin UI (crates/sqlite/src/insights.rs), so that its pages cost the
-- same at a million predictions as at a thousand. The sealer folds each prediction in, once, in
-- the transaction that appends its ledger leaf (`fold_rollups` in src/lib.rs): the totals cover
-- exactly the sealed predictions, and the write path pays nothing for them. They are derived
-- data, outside the ledger: rebuilt from the tables, never trusted as evidence.

-- Predictions per hour, model version and tenant (the overview).
CREATE TABLE rollup_hourly (
    hour        INTEGER NOT NULL, -- ts / 3600000000
    model_ref   BLOB NOT NULL,
    tenant_id   TEXT NOT NULL,
    predictions INTEGER NOT NULL,
    PRIMARY KEY (hour, model_ref, tenant_id)
) WITHOUT ROWID;

-- Outcome, status and confidence-bin mix per model version and tenant (models and tenants pages).
-- bin is -1 for a prediction without confidence: a key column cannot usefully be NULL.
CREATE TABLE rollup_mix (
    model_ref        BLOB NOT NULL,
    tenant_id        TEXT NOT NULL,
    decision_outcome TEXT NOT NULL,
    status           TEXT NOT NULL,
    bin              INTEGER NOT NULL,
    predictions      INTEGER NOT NULL,
    last_ts          INTEGER NOT NULL,
    PRIMARY KEY (model_ref, tenant_id, decision_outcome, status, bin)
) WITHOUT ROWID;

-- Predictions per actor (the actors page).
CREATE TABLE rollup_actors (
    actor_ref   BLOB PRIMARY KEY NOT NULL,
    predictions INTEGER NOT NULL,
    last_ts     INTEGER NOT NULL
) WITHOUT ROWID;

-- What is already sealed is folded in now; what is still queued, when it is sealed.
INSERT INTO rollup_hourly (hour, model_ref, tenant_id, predictions)
SELECT p.ts / 3600000000, p.model_ref, p.tenant_id, count(*)
  FROM ledger_entries e JOIN predictions p ON p.id = e.record_id
 WHERE e.kind = 'prediction'
 GROUP BY 1, 2, 3;

INSERT INTO rollup_mix (model_ref, tenant_id, decision_outcome, status, bin, predictions, last_ts)
SELECT p.model_ref, p.tenant_id, p.decision_outcome, p.status,
       coalesce(min(CAST(p.confidence * 10 AS INTEGER), 9), -1), count(*), max(p.ts)
  FROM ledger_entries e JOIN predictions p ON p.id = e.record_id
 WHERE e.kind = 'prediction'
 GROUP BY 1, 2, 3, 4, 5;

INSERT INTO rollup_actors (actor_ref, predictions, last_ts)
SELECT p.actor_ref, count(*), max(p.ts)
  FROM ledger_entries e JOIN predictions p ON p.id = e.record_id
 WHERE e.kind = 'prediction' AND p.actor_ref IS NOT NULL
 GROUP BY 1;

-- The scans these replace, and the write-path cost of their indexes, are gone.
DROP INDEX predictions_hourly;
DROP INDEX predictions_mix;
