-- Indexes for the admin UI's aggregations (crates/postgres/src/insights.rs): each covers its
-- query, so PostgreSQL answers it with an index-only scan and a hash aggregate over a bounded
-- range. tenant_id comes last: a tenant-bound reader filters on it in the same scan.

-- Predictions per hour and model version over a time window (the overview).
CREATE INDEX predictions_hourly ON predictions (ts, model_ref, tenant_id);

-- Outcome mix, status mix and confidence histogram per model version (the models page).
CREATE INDEX predictions_mix ON predictions (model_ref, decision_outcome, status, confidence, tenant_id);

-- Actors by tenant, in the order the actors page lists them.
CREATE INDEX actors_by_tenant ON actors (tenant_id, actor_type, actor_id);
