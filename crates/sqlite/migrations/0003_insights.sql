-- Indexes for the admin UI's aggregations (crates/sqlite/src/insights.rs). Each one covers its
-- query and is in the query's GROUP BY order, so SQLite aggregates in one pass over the index,
-- without reading the table or sorting. tenant_id comes last: a tenant-bound reader filters on
-- it inside the same pass. The expressions must stay exactly as the queries spell them.

-- Predictions per hour and model version (the overview).
CREATE INDEX predictions_hourly ON predictions (ts / 3600000000, model_ref, tenant_id);

-- Outcome mix, status mix and confidence histogram per model version (the models page).
CREATE INDEX predictions_mix ON predictions (
    model_ref, decision_outcome, status, min(CAST(confidence * 10 AS INTEGER), 9), tenant_id
);

-- Actors by tenant, in the order the actors page lists them.
CREATE INDEX actors_by_tenant ON actors (tenant_id, actor_type, actor_id);
