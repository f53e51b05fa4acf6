-- Every filter of the prediction list on an index that yields rows in page order (newest
-- first), so that a page stops reading at its size and a deep page costs what the first does.
-- The list query matches actors by id (`actors_by_actor_id` finds them) and states that a
-- looked-up trace id is not empty, which the partial trace index needs to be used.
DROP INDEX predictions_by_trace;
CREATE INDEX predictions_by_trace ON predictions (trace_id, ts DESC, id DESC) WHERE trace_id <> '';
CREATE INDEX predictions_by_outcome ON predictions (decision_outcome, ts DESC, id DESC);
CREATE INDEX predictions_by_status ON predictions (status, ts DESC, id DESC);
CREATE INDEX predictions_by_environment ON predictions (environment, ts DESC, id DESC);
CREATE INDEX actors_by_actor_id ON actors (actor_id);
