//! `ml-audit erase`, `purge` and `holds`: erasure, retention and legal hold from the shell
//! (SPEC part 2, "Erasure, retention and legal hold"; `docs/lifecycle.md`). The operator acts on
//! every tenant. Requests are checked by the same parsers as `POST /api/v1/erasures` and
//! `POST /api/v1/holds`, so the shell accepts exactly what the API accepts; a mistake is named
//! by its flag.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use ml_audit_core::FieldError;
use ml_audit_core::access::AccessAction;
use ml_audit_core::auth::Visibility;
use ml_audit_core::lifecycle::{ErasureCounts, ErasureRequest, HoldRequest, HoldScope, Selection, parse_release};
use ml_audit_core::model::LedgerEntry;
use ml_audit_core::timestamp::{self, format_rfc3339};
use ml_audit_storage::prelude::*;
use ml_audit_storage::{Entity, ErasurePlan, PredictionRef, StorageError, StoredHold};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::operator;
use crate::settings::Settings;
use crate::{DbArg, HoldsCommand, open_store};

/// The records an erasure or a hold names (`erase` and `holds create` take the same flags).
#[derive(clap::Args)]
pub struct Records {
    /// A data subject's raw value (an email address, a customer id …), found through its
    /// pseudonym token as `?subject=` finds it; needs the redaction hash key.
    #[arg(long, value_name = "RAW")]
    pub subject: Option<String>,
    /// One actor's records: its type, id and tenant (empty when omitted).
    #[arg(long, value_name = "TYPE:ID[:TENANT]")]
    pub actor: Option<String>,
    /// A prediction by its id or prediction_id (repeatable).
    #[arg(long = "prediction", value_name = "REF")]
    pub predictions: Vec<String>,
}

impl Records {
    /// Adds the flags given to a request body in the API's form, which its parser then checks.
    fn insert_into(self, body: &mut Map<String, Value>) -> anyhow::Result<()> {
        if let Some(subject) = self.subject {
            body.insert("subject".into(), json!(subject));
        }
        if let Some(actor) = &self.actor {
            body.insert("actor".into(), actor_json(actor)?);
        }
        if !self.predictions.is_empty() {
            body.insert("predictions".into(), json!(self.predictions));
        }
        Ok(())
    }
}

/// `ml-audit erase`'s flags, as given.
pub struct EraseRequest {
    pub records: Records,
    pub reason: String,
    pub dry_run: bool,
}

/// `ml-audit erase`: prints the counts and the erasure's id and ledger seq (or, with
/// `--dry-run`, the counts alone). A legal hold over any selected record refuses it whole.
pub async fn erase(request: EraseRequest, db: DbArg, settings: &Settings) -> anyhow::Result<()> {
    let mut body = Map::new();
    request.records.insert_into(&mut body)?;
    body.insert("reason".into(), json!(request.reason));
    body.insert("dry_run".into(), json!(request.dry_run));
    let parsed = ErasureRequest::parse(Value::Object(body)).map_err(flag_error)?;
    let subject = parsed.subject.as_deref().map(|raw| subject_token(settings, raw)).transpose()?;
    let store = open(db, settings).await?;
    for reference in &parsed.predictions {
        resolve(store.as_ref(), reference).await?;
    }
    let dry_run = parsed.dry_run;
    let plan = ErasurePlan {
        selection: Selection { subject, actor: parsed.actor, predictions: parsed.predictions },
        reason: parsed.reason,
        dry_run,
    };
    let result = match store.erase(&Visibility::AllTenants, plan).await {
        Ok(result) => result,
        Err(StorageError::Held(id)) => return Err(held(store.as_ref(), id).await),
        Err(error) => return Err(error.into()),
    };
    let options = operator::given([("dry_run", dry_run.then(|| "true".to_owned()))]);
    let entry = operator::entry(AccessAction::Erase, "erase", options, result.erasure.id.to_string());
    operator::record(store.as_ref(), entry).await?;
    let counts = describe_counts(result.erasure.counts);
    match (&result.ledger, dry_run) {
        (Some(ledger), false) => {
            println!("erased: {counts}");
            println!("erasure {} recorded at {}", result.erasure.id, describe_ledger(ledger));
            if let Err(error) = store.reclaim_space().await {
                // The erasure is committed; the space comes back with the next purge or erasure.
                eprintln!("warning: the erased records' space was not reclaimed yet: {error}");
            }
        }
        _ => {
            println!("would erase: {counts}");
            println!("dry run: nothing changed");
        }
    }
    Ok(())
}

/// `ml-audit purge`: one retention purge, as `serve` runs every hour.
pub async fn purge(dry_run: bool, vacuum: bool, db: DbArg, settings: &Settings) -> anyhow::Result<()> {
    let policy = settings.retention_policy()?;
    let store = open(db, settings).await?;
    let lifecycle: &dyn LifecycleStore = store.as_ref();
    let batch = settings.retention.purge_batch;
    let summary = ml_audit_storage::purge(lifecycle, &policy, timestamp::now(), batch, dry_run).await?;
    let counts = describe_counts(summary.counts);
    if policy.is_forever() {
        println!("retention keeps everything (retention.default_days = 0 and no rules)");
    } else if dry_run {
        println!("would purge: {counts}");
        println!("dry run: nothing changed");
    } else {
        let erasures = summary.erasures;
        println!("purged: {counts}");
        println!("{erasures} {} (reason retention, at most {batch} predictions each)", plural(erasures, "erasure"));
    }
    if vacuum {
        lifecycle.compact().await?;
        println!("vacuumed: the space of erased records is returned");
    }
    Ok(())
}

/// `ml-audit holds list|create|release`.
pub async fn holds(command: HoldsCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        HoldsCommand::List { db } => {
            let store = open(db, settings).await?;
            list_holds(&store.list_holds(&Visibility::AllTenants).await?);
        }
        HoldsCommand::Create { reason, tenant, model, records, until, db } => {
            let mut body = Map::new();
            body.insert("reason".into(), json!(reason));
            for (key, value) in [("tenant_id", tenant), ("model_name", model), ("until", until)] {
                if let Some(value) = value {
                    body.insert(key.into(), json!(value));
                }
            }
            records.insert_into(&mut body)?;
            let request = HoldRequest::parse(Value::Object(body), timestamp::now()).map_err(flag_error)?;
            let subject = request.subject.as_deref().map(|raw| subject_token(settings, raw)).transpose()?;
            let store = open(db, settings).await?;
            let mut ids = Vec::with_capacity(request.predictions.len());
            for reference in &request.predictions {
                let id = resolve(store.as_ref(), reference).await?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let scope = HoldScope {
                tenant_id: request.tenant_id,
                model_name: request.model_name,
                subject,
                actor: request.actor,
                predictions: ids,
            };
            let stored = store.create_hold(request.reason, scope, request.until).await?;
            let entry =
                operator::entry(AccessAction::Hold, "holds create", Default::default(), stored.hold.id.to_string())
                    .with_predictions(stored.hold.scope.predictions.clone());
            operator::record(store.as_ref(), entry).await?;
            let at = stored.ledger.as_ref().map(|l| format!(" at {}", describe_ledger(l))).unwrap_or_default();
            println!("created hold {}{at}", stored.hold.id);
            println!("  scope: {}", describe_scope(&stored.hold.scope));
            println!(
                "  until: {}",
                stored.hold.until.map_or_else(|| "- (stands until released)".into(), format_rfc3339)
            );
        }
        HoldsCommand::Release { id, reason, db } => {
            let reason = parse_release(json!({"reason": reason})).map_err(flag_error)?;
            let store = open(db, settings).await?;
            match store.release_hold(&Visibility::AllTenants, id, reason).await {
                Ok(stored) => {
                    let entry =
                        operator::entry(AccessAction::HoldRelease, "holds release", Default::default(), id.to_string());
                    operator::record(store.as_ref(), entry).await?;
                    let release = stored.release.as_ref().expect("a released hold has its release");
                    println!("released hold {id} at {} ({})", format_rfc3339(release.created_at), release.reason);
                }
                Err(StorageError::NotFound(Entity::Hold)) => bail!("no hold with id {id}"),
                Err(StorageError::Conflict(message)) => bail!("{message}"),
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

async fn open(db: DbArg, settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    open_store(db.db.as_deref().unwrap_or(&settings.database_url)).await
}

/// The table of `holds list`: id, state, scope, until, reason.
fn list_holds(holds: &[StoredHold]) {
    let now = timestamp::now();
    let rows: Vec<[String; 5]> = holds
        .iter()
        .map(|stored| {
            [
                stored.hold.id.to_string(),
                state(stored, now).to_owned(),
                describe_scope(&stored.hold.scope),
                stored.hold.until.map_or("-".into(), format_rfc3339),
                stored.hold.reason.clone(),
            ]
        })
        .collect();
    let scope_width = rows.iter().map(|row| row[2].chars().count()).max().unwrap_or(0).max("SCOPE".len());
    let until_width = rows.iter().map(|row| row[3].len()).max().unwrap_or(0).max("UNTIL".len());
    println!("{:<36}  {:<8}  {:<scope_width$}  {:<until_width$}  REASON", "ID", "STATE", "SCOPE", "UNTIL");
    for [id, state, scope, until, reason] in rows {
        println!("{id:<36}  {state:<8}  {scope:<scope_width$}  {until:<until_width$}  {reason}");
    }
}

/// `released` once released, `lapsed` once its `until` passed, else `active`.
fn state(stored: &StoredHold, now: OffsetDateTime) -> &'static str {
    if stored.release.is_some() {
        "released"
    } else if stored.hold.stands_at(now, None) {
        "active"
    } else {
        "lapsed"
    }
}

fn describe_scope(scope: &HoldScope) -> String {
    let mut parts = Vec::new();
    if let Some(tenant) = &scope.tenant_id {
        parts.push(format!("tenant={tenant}"));
    }
    if let Some(model) = &scope.model_name {
        parts.push(format!("model={model}"));
    }
    if let Some(subject) = &scope.subject {
        parts.push(format!("subject={subject}"));
    }
    if let Some(actor) = &scope.actor {
        parts.push(format!("actor={}:{}:{}", actor.actor_type, actor.actor_id, actor.tenant_id));
    }
    if !scope.predictions.is_empty() {
        const SHOWN: usize = 3;
        let mut shown: Vec<String> = scope.predictions.iter().take(SHOWN).map(Uuid::to_string).collect();
        if scope.predictions.len() > SHOWN {
            shown.push(format!("+{} more", scope.predictions.len() - SHOWN));
        }
        parts.push(format!("predictions={}", shown.join(",")));
    }
    parts.join(" ")
}

fn describe_counts(counts: ErasureCounts) -> String {
    format!(
        "{} {}, {} {}, {} {}, {} {}",
        counts.predictions,
        plural(counts.predictions, "prediction"),
        counts.explanations,
        plural(counts.explanations, "explanation"),
        counts.outcomes,
        plural(counts.outcomes, "outcome"),
        counts.reviews,
        plural(counts.reviews, "review"),
    )
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { word.to_owned() } else { format!("{word}s") }
}

fn describe_ledger(entry: &LedgerEntry) -> String {
    let hash: String = entry.leaf_hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("ledger seq {} (leaf hash {hash})", entry.seq)
}

/// `TYPE:ID[:TENANT]` as the API's `actor` object; the tenant may contain `:`, the id may not.
fn actor_json(text: &str) -> anyhow::Result<Value> {
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(actor_type), Some(actor_id), tenant) if !actor_type.is_empty() && !actor_id.is_empty() => {
            Ok(json!({"actor_type": actor_type, "actor_id": actor_id, "tenant_id": tenant.unwrap_or("")}))
        }
        _ => bail!("--actor {text:?}: expected TYPE:ID[:TENANT], such as user:42:acme"),
    }
}

/// An error of the API's parser, named by the flag that carried the field.
fn flag_error(error: FieldError) -> anyhow::Error {
    let field = error.field.as_str();
    let flag = match field {
        "subject" => "--subject".to_owned(),
        "reason" => "--reason".to_owned(),
        "tenant_id" => "--tenant".to_owned(),
        "model_name" => "--model".to_owned(),
        "until" => "--until".to_owned(),
        "dry_run" => "--dry-run".to_owned(),
        "actor" => "--actor".to_owned(),
        _ if field.starts_with("actor.") => format!("--actor ({})", &field["actor.".len()..]),
        _ if field.starts_with("predictions") => "--prediction".to_owned(),
        other => other.to_owned(),
    };
    anyhow!("{flag}: {}", error.message)
}

/// The pseudonym token of a raw subject value (never stored, never printed).
fn subject_token(settings: &Settings, raw: &str) -> anyhow::Result<String> {
    settings.redaction_policy()?.subject_token(raw).ok_or_else(|| {
        anyhow!(
            "--subject: subject lookup needs a redaction hash key (ML_AUDIT_REDACTION_HASH_KEY or \
             redaction.hash_key_file, the key the records were written with)"
        )
    })
}

/// A prediction's id by its id or prediction_id, in any tenant; one that finds nothing is an
/// error naming it.
async fn resolve(store: &dyn Store, reference: &str) -> anyhow::Result<Uuid> {
    match store.get_prediction(&Visibility::AllTenants, &PredictionRef(reference.to_owned())).await {
        Ok(event) => Ok(event.id),
        Err(StorageError::NotFound(_)) => {
            bail!("--prediction {reference:?}: no prediction has this id or prediction_id")
        }
        Err(error) => Err(error.into()),
    }
}

/// The refusal of an erasure that a hold covers, naming the hold and its reason.
async fn held(store: &dyn Store, id: Uuid) -> anyhow::Error {
    let holds = store.list_holds(&Visibility::AllTenants).await.unwrap_or_default();
    let reason = holds.iter().find(|stored| stored.hold.id == id).map(|stored| format!(" ({:?})", stored.hold.reason));
    anyhow!(
        "nothing was erased: the legal hold {id}{} covers records this erasure selects; it must be released \
         first (ml-audit holds release {id} --reason …)",
        reason.unwrap_or_default()
    )
}
