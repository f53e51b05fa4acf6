-- Each record is queued with its leaf hash, computed by the store from the record it writes in
-- the same transaction (`QueueEntry` in crates/storage): the sealer appends it without reading
-- the record back, which was most of sealing's cost. `verify` still recomputes every leaf from
-- the stored rows. Entries queued before this migration have no hash; the sealer reads and
-- hashes their rows as before.
ALTER TABLE ledger_queue ADD COLUMN leaf_hash BLOB;
