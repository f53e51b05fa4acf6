-- Cheaper writes of outcomes and reviews (measured at 1M predictions: an outcome batch of 500
-- took ~140 ms, about half of it in the two changes below). SQLite keeps its schema: its writes
-- are not bound by these, and it plans a bound value without knowing it (no partial index).
--
-- 1. The state's filter indexes hold only the rows their filter walks. Every outcome or review
--    written inserted an entry into all seven indexes of prediction_state, most of them for
--    values no list walks an index for: "not reviewed", "not overridden", review_state `none`
--    and "no outcome" are met along the predictions' time order (docs/outcomes.md), and a final
--    decision no review changed is NULL.

DROP INDEX prediction_state_by_has_outcome;
CREATE INDEX prediction_state_by_has_outcome ON prediction_state (ts DESC, prediction_ref DESC) WHERE has_outcome = 1;

DROP INDEX prediction_state_by_reviewed;
CREATE INDEX prediction_state_by_reviewed ON prediction_state (ts DESC, prediction_ref DESC) WHERE reviewed = 1;

DROP INDEX prediction_state_by_overridden;
CREATE INDEX prediction_state_by_overridden ON prediction_state (ts DESC, prediction_ref DESC) WHERE overridden = 1;

DROP INDEX prediction_state_by_final_decision;
CREATE INDEX prediction_state_by_final_decision ON prediction_state (final_decision, ts DESC, prediction_ref DESC)
    WHERE final_decision IS NOT NULL;

DROP INDEX prediction_state_by_review_state;
CREATE INDEX prediction_state_by_review_state ON prediction_state (review_state, ts DESC, prediction_ref DESC)
    WHERE review_state <> 'none';

-- 2. No foreign key from outcomes, reviews and prediction_state to predictions: its check is a
--    query per inserted row (~45 ms of a batch of 500), and it guards nothing the write does not:
--    every write of them first finds and locks its prediction in the same transaction
--    (`FOR NO KEY UPDATE`), and a prediction is never deleted (predictions_are_append_only).

ALTER TABLE outcomes DROP CONSTRAINT outcomes_prediction_ref_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_prediction_ref_fkey;
ALTER TABLE prediction_state DROP CONSTRAINT prediction_state_prediction_ref_fkey;
