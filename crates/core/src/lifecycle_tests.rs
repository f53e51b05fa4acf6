use serde_json::json;
use time::macros::datetime;

use super::*;

fn rule(tenant: Option<&str>, model: Option<&str>, days: u32) -> RetentionRule {
    RetentionRule { tenant_id: tenant.map(Into::into), model_name: model.map(Into::into), days }
}

#[test]
fn an_erasure_needs_a_selector_and_a_reason() {
    let error = ErasureRequest::parse(json!({"reason": "gdpr"})).unwrap_err();
    assert_eq!(error.field, "subject");
    let error = ErasureRequest::parse(json!({"subject": "a@b.c"})).unwrap_err();
    assert_eq!(error.field, "reason");
    let error = ErasureRequest::parse(json!({"subject": "a@b.c", "reason": "x", "dry_run": "yes"})).unwrap_err();
    assert_eq!(error.field, "dry_run");
    let error = ErasureRequest::parse(json!({"predictions": ["a", 3], "reason": "x"})).unwrap_err();
    assert_eq!(error.field, "predictions[1]");
    let error = ErasureRequest::parse(json!({"actor": {"actor_id": "7"}, "reason": "x"})).unwrap_err();
    assert_eq!(error.field, "actor.actor_type");
    let request = ErasureRequest::parse(
        json!({"actor": {"actor_type": "user", "actor_id": "7"}, "reason": "x", "dry_run": true}),
    )
    .unwrap();
    assert!(request.dry_run);
    assert_eq!(request.actor.unwrap().tenant_id, "");
}

#[test]
fn a_hold_needs_a_scope_and_a_future_until() {
    let now = datetime!(2026-12-01 00:00 UTC);
    assert_eq!(HoldRequest::parse(json!({"reason": "case 7"}), now).unwrap_err().field, "tenant_id");
    let past = json!({"reason": "case 7", "tenant_id": "acme", "until": "2026-11-01T00:00:00Z"});
    assert_eq!(HoldRequest::parse(past, now).unwrap_err().field, "until");
    let hold = HoldRequest::parse(json!({"reason": "case 7", "model_name": "m"}), now).unwrap();
    assert_eq!(hold.model_name.as_deref(), Some("m"));
    assert_eq!(parse_release(json!({})).unwrap_err().field, "reason");
}

#[test]
fn a_hold_stands_from_its_creation_until_released_or_lapsed() {
    let created = datetime!(2026-01-01 00:00 UTC);
    let hold = Hold {
        id: Uuid::nil(),
        reason: "r".into(),
        scope: HoldScope { tenant_id: Some("t".into()), ..HoldScope::default() },
        until: Some(datetime!(2026-06-01 00:00 UTC)),
        created_at: created,
    };
    assert!(!hold.stands_at(datetime!(2025-12-31 00:00 UTC), None));
    assert!(hold.stands_at(datetime!(2026-02-01 00:00 UTC), None));
    assert!(!hold.stands_at(datetime!(2026-02-01 00:00 UTC), Some(datetime!(2026-01-15 00:00 UTC))));
    assert!(!hold.stands_at(datetime!(2026-07-01 00:00 UTC), None));
}

#[test]
fn retention_rules_below_the_floor_or_of_zero_days_are_named() {
    let policy = |rules| RetentionPolicy { default_days: 0, min_days: 183, rules };
    let error = policy(vec![rule(Some("acme"), None, 30)]).validate().unwrap_err();
    assert!(error.contains("retention.rules[0]") && error.contains("acme") && error.contains("183"), "{error}");
    let error = policy(vec![rule(None, Some("m"), 0)]).validate().unwrap_err();
    assert!(error.contains("at least 1"), "{error}");
    let error = policy(vec![rule(None, None, 400)]).validate().unwrap_err();
    assert!(error.contains("names a tenant_id"), "{error}");
    let error = RetentionPolicy { default_days: 100, ..RetentionPolicy::default() }.validate().unwrap_err();
    assert!(error.contains("retention.default_days"), "{error}");
    let lowered = RetentionPolicy { default_days: 0, min_days: 1, rules: vec![rule(Some("t"), None, 30)] };
    assert_eq!(lowered.validate(), Ok(()));
}

/// A tenant rule, a model rule and one for both: every kind of precedence between them.
fn acme_and_credit() -> Vec<RetentionRule> {
    vec![rule(Some("acme"), None, 200), rule(None, Some("credit"), 800), rule(Some("acme"), Some("credit"), 300)]
}

#[test]
fn the_most_specific_rule_decides_and_the_longest_among_equals() {
    let now = datetime!(2026-12-01 00:00 UTC);
    let policy = RetentionPolicy { default_days: 365, min_days: 183, rules: acme_and_credit() };
    let steps = policy.purge_steps(now);
    assert_eq!(steps.len(), 4);
    let acme = &steps[0];
    assert_eq!(acme.before, now - Duration::days(200));
    // acme's credit records: the tenant+model rule decides; other models of acme: this one
    // (the model-only rule for credit is as specific and longer, so it decides for acme's credit too).
    assert_eq!(acme.except, vec![rule(None, Some("credit"), 800), rule(Some("acme"), Some("credit"), 300)]);
    let credit = &steps[1];
    assert_eq!(credit.except, vec![rule(Some("acme"), Some("credit"), 300)]);
    assert!(steps[2].except.is_empty());
    let default = &steps[3];
    assert_eq!(default.rule, rule(None, None, 365));
    assert_eq!(default.except.len(), 3);
    assert!(RetentionPolicy::default().purge_steps(now).is_empty());
}

/// The purge's steps and `days_for` make the same choice for every record: exactly one step
/// takes a record, and at the cutoff of the days `days_for` gives it.
#[test]
fn the_purge_steps_decide_as_days_for_does() {
    let now = datetime!(2026-12-01 00:00 UTC);
    let policy = RetentionPolicy {
        default_days: 365,
        min_days: 1,
        rules: [acme_and_credit(), vec![rule(Some("globex"), None, 800)]].concat(),
    };
    let matches = |rule: &RetentionRule, tenant: &str, model: &str| {
        rule.tenant_id.as_deref().is_none_or(|t| t == tenant) && rule.model_name.as_deref().is_none_or(|m| m == model)
    };
    let steps = policy.purge_steps(now);
    for tenant in ["acme", "globex", "initech"] {
        for model in ["credit", "fraud"] {
            let deciding: Vec<&PurgeStep> = steps
                .iter()
                .filter(|step| {
                    matches(&step.rule, tenant, model) && !step.except.iter().any(|e| matches(e, tenant, model))
                })
                .collect();
            assert_eq!(deciding.len(), 1, "{tenant}/{model}: {deciding:?}");
            let days = policy.days_for(Some(tenant), model).unwrap();
            assert_eq!(deciding[0].before, now - Duration::days(i64::from(days)), "{tenant}/{model}");
        }
    }
}

#[test]
fn erasure_and_hold_leaves_are_canonical_documents() {
    let erasure = Erasure {
        id: Uuid::nil(),
        reason: "gdpr".into(),
        subject: Some("pii_x".into()),
        actor_ref: None,
        tenant_id: None,
        seqs: vec![3, 9],
        unsalted: vec![],
        counts: ErasureCounts { predictions: 1, explanations: 1, outcomes: 0, reviews: 0 },
        created_at: datetime!(2026-12-01 00:00 UTC),
    };
    let bytes = to_canonical_vec(&erasure.document());
    assert!(String::from_utf8(bytes.clone()).unwrap().contains(r#""seqs":[3,9]"#));
    assert_eq!(erasure.leaf_hash(), leaf_hash(&bytes));
    let mut changed = erasure.clone();
    changed.seqs.push(10);
    assert_ne!(changed.leaf_hash(), erasure.leaf_hash());
}
