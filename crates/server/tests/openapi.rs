//! The committed `docs/openapi.json` must match what the code generates, so API changes show
//! up in review. Regenerate with `UPDATE_OPENAPI=1 cargo test -p ml-audit-server --test openapi`.

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = serde_json::to_string_pretty(&ml_audit_server::api_document()).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p ml-audit-server --test openapi"
    );
}
