//! The command line's own entries in the access log: erasures, holds, key changes and exports
//! made at the shell are recorded like those made over HTTP, by the operator (`user@host`).

use std::collections::BTreeMap;

use ml_audit_core::access::{AccessAction, AccessEntry, Channel, Reader};
use ml_audit_storage::AccessLogStore;

/// `user@host` of whoever runs this command.
pub fn operator_name() -> String {
    let user = ["USER", "LOGNAME"].iter().find_map(|name| std::env::var(name).ok()).unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// An entry of this command (`route`: the command, as `keys create`), by the operator.
pub fn entry(action: AccessAction, command: &str, filters: BTreeMap<String, String>, target: String) -> AccessEntry {
    AccessEntry::new(Reader::operator(operator_name()), Channel::Cli, action, command)
        .with_filters(filters)
        .with_target(target)
}

/// Records `entry`; the command has done its work, so a failure here is reported, not fatal
/// to what was done (the operator is told the entry is missing).
pub async fn record(store: &dyn AccessLogStore, entry: AccessEntry) -> anyhow::Result<()> {
    store
        .record_access(&entry.split())
        .await
        .map_err(|error| anyhow::anyhow!("done, but its access log entry could not be written: {error}"))
}

/// `(name, value)` pairs of the options that were given.
pub fn given<'a>(options: impl IntoIterator<Item = (&'a str, Option<String>)>) -> BTreeMap<String, String> {
    options.into_iter().filter_map(|(name, value)| value.map(|v| (name.to_owned(), v))).collect()
}
