//! Settings, layered: built-in defaults, then the TOML file, then `ML_AUDIT_*` environment
//! variables, then command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ml_audit_core::lifecycle::{RetentionPolicy, RetentionRule};
use ml_audit_core::redaction::{
    Action, DEFAULT_MASK, HashKey, Part, PolicyConfig, RedactionConfig, RedactionPolicy, RuleConfig,
};
use ml_audit_core::review::ReviewPolicy;
use ml_audit_ledger::sealer::Schedule;
use ml_audit_server::{Limits, Resilience, RetentionSchedule, ServerSettings};
use serde::{Deserialize, Serialize};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://ml-audit-data/ml-audit.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Read from the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "ml-audit.toml";
pub const DEFAULT_LEDGER_KEY: &str = "ml-audit-data/ledger.key";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    pub redaction: RedactionSettings,
    pub ledger: LedgerSettings,
    pub server: ServerTable,
    pub retention: RetentionSettings,
    pub review: ReviewSettings,
    /// The pseudonym key from `ML_AUDIT_REDACTION_HASH_KEY`: never read from or written to the
    /// file, so `ml-audit config` cannot print it.
    #[serde(skip)]
    pub redaction_hash_key: Option<HashKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSettings {
    /// The Ed25519 checkpoint signing key, created on first start. Keep it out of the database's
    /// reach (and backed up): whoever holds it can sign checkpoints. Default: `ledger.key` beside
    /// a SQLite database file, else `ml-audit-data/ledger.key`.
    pub key_path: Option<PathBuf>,
    /// Also write each new checkpoint here, outside the database, so `verify` catches a log
    /// truncated together with its checkpoint table.
    pub witness_path: Option<PathBuf>,
    /// Names the log in every checkpoint (C2SP origin), e.g. `audit.example.com/prod`.
    pub origin: String,
    pub checkpoint_interval_secs: u64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self { key_path: None, witness_path: None, origin: "ml-audit".to_owned(), checkpoint_interval_secs: 60 }
    }
}

/// Human review (`[review]`; docs/outcomes.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSettings {
    /// Models whose override or reverse takes effect only once a second, different reviewer
    /// confirms it (the four-eyes principle).
    pub two_person_models: Vec<String>,
}

/// How long records are kept (`[retention]`, `[[retention.rules]]`; docs/lifecycle.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days a record is kept when no rule names it; 0 keeps it forever.
    pub default_days: i64,
    /// No rule may keep records for less (the EU AI Act's six months by default); lower it only
    /// on purpose.
    pub min_days: i64,
    /// Seconds between the purges `serve` runs.
    pub purge_interval_secs: u64,
    /// Most predictions one purge erasure takes (one ledger leaf a batch).
    pub purge_batch: u32,
    pub rules: Vec<RetentionRuleSetting>,
}

/// One `[[retention.rules]]` entry: the records of a tenant, a model, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRuleSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    pub days: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        let (policy, schedule) = (RetentionPolicy::default(), RetentionSchedule::default());
        Self {
            default_days: i64::from(policy.default_days),
            min_days: i64::from(policy.min_days),
            purge_interval_secs: schedule.interval.as_secs(),
            purge_batch: schedule.batch,
            rules: Vec::new(),
        }
    }
}

/// How `serve` holds up under overload, slow clients and shutdown (`[server]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTable {
    /// The most write requests handled at once; the limit adapts below it (see
    /// `ingest_latency_target_ms`), and one more is refused at once with 503 `overloaded`.
    pub max_ingest_requests: usize,
    /// The latency that nine write requests in ten should stay under; the limit on requests in
    /// flight shrinks when more are slower and grows while they are faster.
    pub ingest_latency_target_ms: u64,
    /// Events that may wait for a writer before new ones are refused with 503 `overloaded`.
    pub queue_events: usize,
    /// A connection must send a request's headers within this, or it is closed.
    pub header_read_timeout_secs: u64,
    /// A request's whole body must arrive within this, or it is refused with 408.
    pub body_read_timeout_secs: u64,
    /// After SIGTERM: how long in-flight requests may take, and then the last seal and checkpoint.
    pub shutdown_timeout_secs: u64,
    /// `/readyz` fails when the ledger's sealer is behind by more than this.
    pub ready_max_sealer_lag_secs: u64,
    /// Record every read of predictions in the access log (docs/access-log.md). Switch it off
    /// only to measure what it costs, or where another system keeps such a log.
    pub access_log: bool,
}

impl Default for ServerTable {
    fn default() -> Self {
        let (limits, resilience) = (Limits::default(), Resilience::default());
        Self {
            max_ingest_requests: resilience.max_ingest_requests,
            ingest_latency_target_ms: resilience.ingest_latency_target.as_millis() as u64,
            queue_events: resilience.queue_events,
            header_read_timeout_secs: resilience.header_read_timeout.as_secs(),
            body_read_timeout_secs: limits.body_read_timeout.as_secs(),
            shutdown_timeout_secs: resilience.shutdown_timeout.as_secs(),
            ready_max_sealer_lag_secs: resilience.max_sealer_lag.as_secs(),
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionSettings {
    pub allowlist: Vec<String>,
    pub denylist: Vec<String>,
    pub mask_value: String,
    /// Parts whose strings the value detectors scan.
    pub apply_to: Vec<String>,
    /// A file holding the pseudonym key (its content, a trailing newline removed);
    /// `ML_AUDIT_REDACTION_HASH_KEY` wins over it.
    pub hash_key_file: Option<PathBuf>,
    /// Each detector by name: `true`/`false`, or `{ enabled, action, keep_last }`.
    pub detectors: BTreeMap<String, DetectorSetting>,
    pub rules: Vec<RuleSetting>,
}

/// `email = false` or `email = { action = "hash" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DetectorSetting {
    Switch(bool),
    Table(DetectorTable),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorTable {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
}

fn enabled_by_default() -> bool {
    true
}

/// One `[[redaction.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting {
    #[serde(rename = "match")]
    pub pattern: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            bind: DEFAULT_BIND.to_owned(),
            max_body_bytes: limits.max_body_bytes,
            max_json_depth: limits.max_json_depth,
            redaction: RedactionSettings::default(),
            ledger: LedgerSettings::default(),
            server: ServerTable::default(),
            retention: RetentionSettings::default(),
            review: ReviewSettings::default(),
            redaction_hash_key: None,
        }
    }
}

impl Default for RedactionSettings {
    fn default() -> Self {
        Self {
            allowlist: Vec::new(),
            denylist: Vec::new(),
            mask_value: DEFAULT_MASK.to_owned(),
            apply_to: PolicyConfig::default().apply_to.iter().map(|part| part.as_str().to_owned()).collect(),
            hash_key_file: None,
            detectors: BTreeMap::new(),
            rules: Vec::new(),
        }
    }
}

/// Every environment variable ml-audit reads; any other `ML_AUDIT_*` is reported as a likely typo.
const ENV_VARS: &[&str] = &[
    "ML_AUDIT_CONFIG",
    "ML_AUDIT_DATABASE_URL",
    "ML_AUDIT_BIND",
    "ML_AUDIT_MAX_BODY_BYTES",
    "ML_AUDIT_MAX_JSON_DEPTH",
    "ML_AUDIT_REDACTION_ALLOWLIST",
    "ML_AUDIT_REDACTION_DENYLIST",
    "ML_AUDIT_REDACTION_MASK_VALUE",
    "ML_AUDIT_REDACTION_HASH_KEY",
    "ML_AUDIT_LEDGER_KEY_PATH",
    "ML_AUDIT_LEDGER_WITNESS_PATH",
    "ML_AUDIT_LEDGER_ORIGIN",
    "ML_AUDIT_LEDGER_CHECKPOINT_INTERVAL_SECS",
    "ML_AUDIT_SERVER_MAX_INGEST_REQUESTS",
    "ML_AUDIT_SERVER_INGEST_LATENCY_TARGET_MS",
    "ML_AUDIT_SERVER_QUEUE_EVENTS",
    "ML_AUDIT_SERVER_HEADER_READ_TIMEOUT_SECS",
    "ML_AUDIT_SERVER_BODY_READ_TIMEOUT_SECS",
    "ML_AUDIT_SERVER_SHUTDOWN_TIMEOUT_SECS",
    "ML_AUDIT_SERVER_READY_MAX_SEALER_LAG_SECS",
    "ML_AUDIT_SERVER_ACCESS_LOG",
    "ML_AUDIT_RETENTION_DEFAULT_DAYS",
    "ML_AUDIT_RETENTION_MIN_DAYS",
    "ML_AUDIT_REVIEW_TWO_PERSON_MODELS",
    "ML_AUDIT_LOG",
    // Read by the Python client, often from the same environment: not typos.
    "ML_AUDIT_URL",
    "ML_AUDIT_API_KEY",
    "ML_AUDIT_MODE",
];

impl Settings {
    /// Loads the file (the explicit one must exist; the default one may not) and applies the
    /// environment. Returns warnings to print once logging is up.
    pub fn load(explicit: Option<&Path>, env: &BTreeMap<String, String>) -> anyhow::Result<(Self, Vec<String>)> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env.get("ML_AUDIT_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()));
        let mut settings = match &path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Settings::default(),
        };
        let mut warnings = Vec::new();
        for (name, value) in env.iter().filter(|(name, _)| name.starts_with("ML_AUDIT_")) {
            match name.as_str() {
                "ML_AUDIT_DATABASE_URL" => settings.database_url = value.clone(),
                "ML_AUDIT_BIND" => settings.bind = value.clone(),
                "ML_AUDIT_MAX_BODY_BYTES" => settings.max_body_bytes = parse_number(name, value)?,
                "ML_AUDIT_MAX_JSON_DEPTH" => settings.max_json_depth = parse_number(name, value)?,
                "ML_AUDIT_REDACTION_ALLOWLIST" => settings.redaction.allowlist = split_list(value),
                "ML_AUDIT_REDACTION_DENYLIST" => settings.redaction.denylist = split_list(value),
                "ML_AUDIT_REDACTION_MASK_VALUE" => settings.redaction.mask_value = value.clone(),
                "ML_AUDIT_REDACTION_HASH_KEY" => {
                    settings.redaction_hash_key =
                        Some(HashKey::new(value).map_err(|e| anyhow::anyhow!("ML_AUDIT_REDACTION_HASH_KEY: {e}"))?)
                }
                "ML_AUDIT_LEDGER_KEY_PATH" => settings.ledger.key_path = Some(PathBuf::from(value)),
                "ML_AUDIT_LEDGER_WITNESS_PATH" => settings.ledger.witness_path = Some(PathBuf::from(value)),
                "ML_AUDIT_LEDGER_ORIGIN" => settings.ledger.origin = value.clone(),
                "ML_AUDIT_LEDGER_CHECKPOINT_INTERVAL_SECS" => {
                    settings.ledger.checkpoint_interval_secs = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_MAX_INGEST_REQUESTS" => {
                    settings.server.max_ingest_requests = parse_number(name, value)?
                }
                "ML_AUDIT_SERVER_INGEST_LATENCY_TARGET_MS" => {
                    settings.server.ingest_latency_target_ms = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_QUEUE_EVENTS" => settings.server.queue_events = parse_number(name, value)?,
                "ML_AUDIT_SERVER_HEADER_READ_TIMEOUT_SECS" => {
                    settings.server.header_read_timeout_secs = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_BODY_READ_TIMEOUT_SECS" => {
                    settings.server.body_read_timeout_secs = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_SHUTDOWN_TIMEOUT_SECS" => {
                    settings.server.shutdown_timeout_secs = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_READY_MAX_SEALER_LAG_SECS" => {
                    settings.server.ready_max_sealer_lag_secs = parse_number(name, value)? as u64
                }
                "ML_AUDIT_SERVER_ACCESS_LOG" => {
                    settings.server.access_log = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => anyhow::bail!("{name} must be true or false, not {value:?}"),
                    }
                }
                "ML_AUDIT_RETENTION_DEFAULT_DAYS" => {
                    settings.retention.default_days = parse_number(name, value)? as i64
                }
                "ML_AUDIT_RETENTION_MIN_DAYS" => settings.retention.min_days = parse_number(name, value)? as i64,
                "ML_AUDIT_REVIEW_TWO_PERSON_MODELS" => settings.review.two_person_models = split_list(value),
                known if ENV_VARS.contains(&known) => {}
                unknown => warnings.push(format!("ignoring unknown environment variable {unknown}")),
            }
        }
        settings.validate()?;
        Ok((settings, warnings))
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024, not {}", self.max_body_bytes);
        }
        if !(2..=1000).contains(&self.max_json_depth) {
            bail!("max_json_depth must be from 2 to 1000, not {}", self.max_json_depth);
        }
        if self.ledger.checkpoint_interval_secs == 0 {
            bail!("ledger.checkpoint_interval_secs must be at least 1");
        }
        self.retention_policy()?;
        let server = &self.server;
        for (name, value) in [
            ("server.max_ingest_requests", server.max_ingest_requests as u64),
            ("server.ingest_latency_target_ms", server.ingest_latency_target_ms),
            ("server.queue_events", server.queue_events as u64),
            ("server.header_read_timeout_secs", server.header_read_timeout_secs),
            ("server.body_read_timeout_secs", server.body_read_timeout_secs),
            ("server.shutdown_timeout_secs", server.shutdown_timeout_secs),
            ("server.ready_max_sealer_lag_secs", server.ready_max_sealer_lag_secs),
            ("retention.purge_interval_secs", self.retention.purge_interval_secs),
            ("retention.purge_batch", u64::from(self.retention.purge_batch)),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        Ok(())
    }

    /// The configured key path, else one that belongs to the database in use, so that two
    /// databases served from one folder do not share a key by accident.
    pub fn ledger_key_path(&self) -> PathBuf {
        if let Some(path) = &self.ledger.key_path {
            return path.clone();
        }
        let file = self.database_url.strip_prefix("sqlite://").or_else(|| self.database_url.strip_prefix("sqlite:"));
        match file.map(|rest| rest.split('?').next().unwrap_or(rest)) {
            Some(path) if !path.is_empty() && !path.contains(":memory:") => {
                Path::new(path).parent().unwrap_or(Path::new("")).join("ledger.key")
            }
            _ => PathBuf::from(DEFAULT_LEDGER_KEY),
        }
    }

    /// The pseudonym key: `ML_AUDIT_REDACTION_HASH_KEY`, else the content of
    /// `redaction.hash_key_file` (a trailing newline removed), else none.
    pub fn hash_key(&self) -> anyhow::Result<Option<HashKey>> {
        if let Some(key) = &self.redaction_hash_key {
            return Ok(Some(key.clone()));
        }
        let Some(path) = &self.redaction.hash_key_file else { return Ok(None) };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read redaction.hash_key_file {}", path.display()))?;
        let secret = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
        let key =
            HashKey::new(secret).map_err(|e| anyhow::anyhow!("redaction.hash_key_file {}: {e}", path.display()))?;
        Ok(Some(key))
    }

    /// The `[redaction]` table as a validated policy; every mistake is an error naming it.
    pub fn redaction_policy(&self) -> anyhow::Result<RedactionPolicy> {
        let policy_error =
            |e: ml_audit_core::redaction::PolicyError| anyhow::anyhow!("invalid [redaction] config: {e}");
        let r = &self.redaction;
        let mut config = PolicyConfig::from(RedactionConfig {
            allowlist: r.allowlist.clone(),
            denylist: r.denylist.clone(),
            mask_value: r.mask_value.clone(),
        });
        config.apply_to =
            r.apply_to.iter().map(|part| Part::parse(part)).collect::<Result<_, _>>().map_err(policy_error)?;
        for (name, setting) in &r.detectors {
            let detector = config.detectors.by_name_mut(name).map_err(policy_error)?;
            match setting {
                DetectorSetting::Switch(enabled) => detector.enabled = *enabled,
                DetectorSetting::Table(table) => {
                    detector.enabled = table.enabled;
                    detector.action = Action::parse(table.action.as_deref().unwrap_or("mask"), table.keep_last)
                        .map_err(|e| anyhow::anyhow!("invalid [redaction] config: detector `{name}`: {e}"))?;
                }
            }
        }
        for (index, rule) in r.rules.iter().enumerate() {
            let in_rule = |e: ml_audit_core::redaction::PolicyError| {
                anyhow::anyhow!("invalid [redaction] config: redaction rule {} (`{}`): {e}", index + 1, rule.pattern)
            };
            let mut built =
                RuleConfig::new(rule.pattern.clone(), Action::parse(&rule.action, rule.keep_last).map_err(in_rule)?)
                    .for_models(rule.models.iter().cloned());
            if let Some(parts) = &rule.parts {
                built.parts = parts.iter().map(|part| Part::parse(part)).collect::<Result<_, _>>().map_err(in_rule)?;
            }
            config.rules.push(built);
        }
        RedactionPolicy::build(config, self.hash_key()?).map_err(policy_error)
    }

    /// The `[retention]` table as a checked policy; a mistake is an error naming the setting
    /// (`retention.rules[2] (tenant_id "acme"): 30 days is below the minimum …`).
    pub fn retention_policy(&self) -> anyhow::Result<RetentionPolicy> {
        let days = |name: String, days: i64, at_least: i64| {
            if days < at_least {
                bail!("{name}: days must be at least {at_least}, not {days}");
            }
            u32::try_from(days).map_err(|_| anyhow::anyhow!("{name}: {days} days is too many"))
        };
        let rules = self
            .retention
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                Ok(RetentionRule {
                    tenant_id: rule.tenant_id.clone(),
                    model_name: rule.model_name.clone(),
                    days: days(format!("retention.rules[{i}]"), rule.days, 1)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = RetentionPolicy {
            default_days: days("retention.default_days".into(), self.retention.default_days, 0)?,
            min_days: days("retention.min_days".into(), self.retention.min_days, 0)?,
            rules,
        };
        policy.validate().map_err(|e| anyhow::anyhow!("invalid [retention] config: {e}"))?;
        Ok(policy)
    }

    /// The `[review]` table as the policy reviews are applied (and `verify` recomputes them) by.
    pub fn review_policy(&self) -> ReviewPolicy {
        ReviewPolicy { two_person_models: self.review.two_person_models.iter().cloned().collect() }
    }

    pub fn server_settings(&self) -> anyhow::Result<ServerSettings> {
        Ok(ServerSettings {
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
                max_json_depth: self.max_json_depth,
                body_read_timeout: Duration::from_secs(self.server.body_read_timeout_secs),
                ..Limits::default()
            },
            resilience: Resilience {
                max_ingest_requests: self.server.max_ingest_requests,
                ingest_latency_target: Duration::from_millis(self.server.ingest_latency_target_ms),
                queue_events: self.server.queue_events,
                header_read_timeout: Duration::from_secs(self.server.header_read_timeout_secs),
                shutdown_timeout: Duration::from_secs(self.server.shutdown_timeout_secs),
                max_sealer_lag: Duration::from_secs(self.server.ready_max_sealer_lag_secs),
            },
            redaction: self.redaction_policy()?,
            ledger_schedule: Schedule {
                checkpoint_every: Duration::from_secs(self.ledger.checkpoint_interval_secs),
                ..Schedule::default()
            },
            review: self.review_policy(),
            access_log: self.server.access_log,
            retention: RetentionSchedule {
                policy: self.retention_policy()?,
                interval: Duration::from_secs(self.retention.purge_interval_secs),
                batch: self.retention.purge_batch,
            },
        })
    }
}

fn parse_number(name: &str, value: &str) -> anyhow::Result<usize> {
    value.trim().parse().with_context(|| format!("{name} must be a whole number, not {value:?}"))
}

fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_overrides_the_file_and_lists_are_comma_separated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\n[redaction]\nmask_value = \"[x]\"\nallowlist = [\"age\"]\n")
            .unwrap();
        let (settings, warnings) = Settings::load(
            Some(&file),
            &env(&[("ML_AUDIT_REDACTION_DENYLIST", "national_id, raw_email"), ("ML_AUDIT_BIND", "127.0.0.1:1")]),
        )
        .unwrap();
        assert_eq!(settings.bind, "127.0.0.1:1");
        assert_eq!(settings.redaction.mask_value, "[x]");
        assert_eq!(settings.redaction.allowlist, vec!["age"]);
        assert_eq!(settings.redaction.denylist, vec!["national_id", "raw_email"]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn the_ledger_key_lives_beside_a_sqlite_database_unless_configured() {
        let mut settings = Settings::default();
        assert_eq!(settings.ledger_key_path(), PathBuf::from("ml-audit-data/ledger.key"));
        settings.database_url = "sqlite:///srv/audit/prod.db?mode=rwc".into();
        assert_eq!(settings.ledger_key_path(), PathBuf::from("/srv/audit/ledger.key"));
        settings.database_url = "postgres://db.internal/audit".into();
        assert_eq!(settings.ledger_key_path(), PathBuf::from(DEFAULT_LEDGER_KEY));
        settings.ledger.key_path = Some("/run/secrets/ledger.key".into());
        assert_eq!(settings.ledger_key_path(), PathBuf::from("/run/secrets/ledger.key"));
    }

    #[test]
    fn the_redaction_table_maps_onto_a_policy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let key_file = dir.path().join("hash.key");
        std::fs::write(&key_file, "0123456789abcdef0123\n").unwrap();
        let toml = format!(
            "[redaction]\napply_to = [\"features\", \"output\"]\nhash_key_file = {:?}\n\
             [redaction.detectors]\nemail = {{ action = \"hash\" }}\nip = false\n\
             [[redaction.rules]]\nmatch = \"items[].pan\"\naction = \"partial\"\nkeep_last = 2\n\
             models = [\"credit_risk\"]\nin = [\"features\", \"metadata\"]\n",
            key_file.display().to_string()
        );
        std::fs::write(&file, toml).unwrap();
        let (settings, _) = Settings::load(Some(&file), &env(&[])).unwrap();
        let policy = settings.redaction_policy().unwrap();
        assert!(policy.has_hash_key());
        // The file's key, its trailing newline removed, is the one the environment would give.
        let (from_env, _) =
            Settings::load(Some(&file), &env(&[("ML_AUDIT_REDACTION_HASH_KEY", "0123456789abcdef0123")])).unwrap();
        let env_policy = from_env.redaction_policy().unwrap();
        assert_eq!(policy.subject_token("a@example.com"), env_policy.subject_token("a@example.com"));
        assert!(!toml::to_string_pretty(&from_env).unwrap().contains("0123456789abcdef0123\""));

        for (bad, expected) in [
            ("[[redaction.rules]]\nmatch = \"x\"\naction = \"hash\"\n", "ML_AUDIT_REDACTION_HASH_KEY"),
            ("[[redaction.rules]]\nmatch = \"x\"\naction = \"shred\"\n", "unknown action `shred`"),
            ("[[redaction.rules]]\nmatch = \"cust*.email\"\naction = \"mask\"\n", "redaction rule 1"),
            ("[redaction.detectors]\nfax = true\n", "unknown detector `fax`"),
            ("[redaction.detectors]\ncard = { action = \"drop\" }\n", "detector `card`"),
            ("[redaction]\napply_to = [\"body\"]\n", "unknown part `body`"),
        ] {
            std::fs::write(&file, bad).unwrap();
            let (settings, _) = Settings::load(Some(&file), &env(&[])).unwrap();
            let error = format!("{:#}", settings.redaction_policy().unwrap_err());
            assert!(error.contains(expected), "{bad}: {error}");
        }
        assert!(Settings::load(None, &env(&[("ML_AUDIT_REDACTION_HASH_KEY", "short")])).is_err());
    }

    #[test]
    fn unknown_settings_are_errors_or_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "databse_url = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&file), &env(&[])).is_err());
        let (_, warnings) = Settings::load(None, &env(&[("ML_AUDIT_DATABSE_URL", "x")])).unwrap();
        assert_eq!(warnings, vec!["ignoring unknown environment variable ML_AUDIT_DATABSE_URL"]);
        assert!(Settings::load(None, &env(&[("ML_AUDIT_MAX_JSON_DEPTH", "deep")])).is_err());
    }
}
