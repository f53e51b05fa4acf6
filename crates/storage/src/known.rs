//! A cache of the model and actor rows the write path has committed, shared by the backends.
//!
//! Those rows are immutable (append-only) and created once per natural key, so a committed row
//! is never stale, on any replica; looking it up saves queries on every recorded event. Only
//! committed rows may enter: a row of a rolled-back transaction would not exist.

use std::collections::HashMap;
use std::sync::Mutex;

use ml_audit_core::event::{NewActor, NewModelVersion};
use ml_audit_core::model::ModelVersion;
use time::OffsetDateTime;
use uuid::Uuid;

/// Beyond this many cached rows the cache starts over, bounding memory.
const KNOWN_ROWS_LIMIT: usize = 100_000;

/// A model version's natural key: (model_name, version).
pub type ModelKey = (String, String);
/// An actor's natural key: (actor_type, actor_id, tenant_id).
pub type ActorKey = (&'static str, String, String);

pub fn model_key(model: &NewModelVersion) -> ModelKey {
    (model.model_name.clone(), model.version.clone())
}

pub fn actor_key(actor: &NewActor) -> ActorKey {
    (actor.actor_type.as_str(), actor.actor_id.clone(), actor.tenant_id.clone())
}

/// Rows by natural key: the committed ones in [`KnownRows`], a transaction's own in its
/// `fresh` set until it commits.
#[derive(Default)]
pub struct RowSet {
    pub models: HashMap<ModelKey, ModelVersion>,
    pub actors: HashMap<ActorKey, (Uuid, OffsetDateTime)>,
}

/// The committed rows, shared by a store's writers.
#[derive(Default)]
pub struct KnownRows(Mutex<RowSet>);

impl KnownRows {
    pub fn model(&self, key: &ModelKey) -> Option<ModelVersion> {
        self.lock().models.get(key).cloned()
    }

    pub fn actor(&self, key: &ActorKey) -> Option<(Uuid, OffsetDateTime)> {
        self.lock().actors.get(key).copied()
    }

    /// Adds the rows a transaction saw, once it has committed.
    pub fn absorb(&self, fresh: RowSet) {
        let mut known = self.lock();
        if known.models.len() + known.actors.len() > KNOWN_ROWS_LIMIT {
            *known = RowSet::default();
        }
        known.models.extend(fresh.models);
        known.actors.extend(fresh.actors);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RowSet> {
        self.0.lock().expect("the cache lock is never poisoned")
    }
}
