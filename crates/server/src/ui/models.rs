//! `/models`: every model version with its prediction count, outcome mix and confidence
//! histogram (over the predictions this session may see), and the retention in force for it.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use maud::{Markup, html};
use ml_audit_core::lifecycle::RetentionPolicy;
use ml_audit_storage::ModelVersionStats;

use super::charts::{PALETTE, histogram, stacked_bar, swatch};
use super::format::{self, query};
use super::{SEALED_TOTALS, Section, Session, UiError, layout};
use crate::state::AppState;

pub async fn page(session: Session, State(state): State<AppState>) -> Result<Markup, UiError> {
    let models = state.predictions.list_models().await?;
    let stats: HashMap<_, _> =
        state.insights.model_version_stats(&session.visibility).await?.into_iter().map(|s| (s.model_id, s)).collect();
    let empty = |id| ModelVersionStats {
        model_id: id,
        predictions: 0,
        outcomes: Vec::new(),
        statuses: Vec::new(),
        confidence_bins: [0; 10],
        without_confidence: 0,
    };
    Ok(layout(
        "Models",
        Some(Section::Models),
        Some(&session),
        html! {
            h1 { "Models" }
            p.hint {
                "Model versions are shared by every tenant; the counts are of the predictions "
                @if let Some(tenant) = &session.key.tenant_id { "of tenant " strong { (tenant) } } @else { "of every tenant" }
                ". " (SEALED_TOTALS)
            }
            p.hint #retention-policy {
                "Retention: records are kept "
                @if state.retention.default_days == 0 { "forever" } @else { (days_text(Some(state.retention.default_days))) }
                " unless a rule for their tenant or model says otherwise; the most specific rule applies, the longest "
                "among equally specific ones. Past it, " code { "serve" } " erases them hourly (reason "
                code { "retention" } "), except what a legal hold covers."
            }
            @if models.is_empty() { p.empty { "No model version has been recorded yet." } }
            div.models {
                @for model in &models {
                    @let s = stats.get(&model.id).cloned().unwrap_or_else(|| empty(model.id));
                    article.card.model id=(format!("model-{}", model.id)) data-model=(model.model_name) data-version=(model.version) {
                        header {
                            h2 { (model.model_name) " " span.version { (model.version) } }
                            p.meta {
                                @if !model.framework.is_empty() { (model.framework) " · " }
                                "first seen " (format::timestamp(model.created_at))
                                @if !model.commit_hash.is_empty() { " · commit " code { (model.commit_hash) } }
                            }
                            p.retention title="How long its predictions are kept (the retention rule that applies)" {
                                "Retention: " strong { (retention_text(&state.retention, &model.model_name, session.key.tenant_id.as_deref())) }
                            }
                        }
                        p.count {
                            a href=(format!("/predictions{}", query([("model_name", model.model_name.as_str()), ("model_version", model.version.as_str())]))) {
                                strong.predictions { (format::count(s.predictions)) } " predictions"
                            }
                            @for (status, n) in s.statuses.iter().filter(|(status, _)| status.as_str() != "success") {
                                " · " span.badge.(format!("status-{status}")) { (format::count(*n)) " " (status) }
                            }
                        }
                        @if s.predictions > 0 {
                            div.mix {
                                h3 { "Outcomes" }
                                @let parts: Vec<(String, u64, &'static str)> = s.outcomes.iter().enumerate()
                                    .map(|(i, (name, n))| (name.clone(), *n, PALETTE[i % PALETTE.len()])).collect();
                                (stacked_bar(&parts, &format!("Outcome mix of {} {}", model.model_name, model.version)))
                                ul.legend {
                                    @for (name, n, colour) in &parts {
                                        li {
                                            (swatch(colour))
                                            (if name.is_empty() { "(none)" } else { name.as_str() }) " "
                                            span.num { (format::count(*n)) " · " (format::percent(*n, s.predictions)) }
                                        }
                                    }
                                }
                            }
                            div.hist {
                                h3 { "Confidence" }
                                (histogram(&s.confidence_bins, &format!("Confidence histogram of {} {}", model.model_name, model.version)))
                                @if s.without_confidence > 0 {
                                    p.hint { (format::count(s.without_confidence)) " without confidence" }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `365 days`, `1 day`, or `forever` for no limit.
fn days_text(days: Option<u32>) -> String {
    match days {
        None => "forever".into(),
        Some(1) => "1 day".into(),
        Some(days) => format!("{days} days"),
    }
}

/// The retention of a model's records, short: `forever`, `365 days`, or `365 days; acme: 200
/// days` when a tenant's rule gives it another. A tenant-bound session sees its tenant's only
/// (and no other tenant's name).
fn retention_text(policy: &RetentionPolicy, model_name: &str, session_tenant: Option<&str>) -> String {
    if let Some(own) = session_tenant {
        return days_text(policy.days_for(Some(own), model_name));
    }
    let base = policy.days_for(None, model_name);
    let named: BTreeSet<&str> = policy
        .rules
        .iter()
        .filter(|rule| rule.model_name.as_deref().is_none_or(|m| m == model_name))
        .filter_map(|rule| rule.tenant_id.as_deref())
        .collect();
    let mut text = days_text(base);
    for tenant in named {
        let days = policy.days_for(Some(tenant), model_name);
        if days != base {
            text.push_str(&format!("; {tenant}: {}", days_text(days)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use ml_audit_core::lifecycle::RetentionRule;

    use super::*;

    fn rule(tenant: Option<&str>, model: Option<&str>, days: u32) -> RetentionRule {
        RetentionRule { tenant_id: tenant.map(Into::into), model_name: model.map(Into::into), days }
    }

    fn policy(default_days: u32, rules: Vec<RetentionRule>) -> RetentionPolicy {
        RetentionPolicy { default_days, min_days: 1, rules }
    }

    #[test]
    fn without_rules_the_default_applies_and_zero_is_forever() {
        assert_eq!(retention_text(&RetentionPolicy::default(), "fraud", None), "forever");
        assert_eq!(retention_text(&policy(365, vec![]), "fraud", None), "365 days");
        assert_eq!(retention_text(&policy(365, vec![]), "fraud", Some("acme")), "365 days");
        assert_eq!(days_text(Some(1)), "1 day");
    }

    #[test]
    fn the_most_specific_rule_applies_and_the_longest_among_equals() {
        let p = policy(
            365,
            vec![
                rule(Some("acme"), None, 200),
                rule(None, Some("fraud"), 730),
                rule(Some("acme"), Some("credit"), 400),
                rule(Some("globex"), None, 1000),
            ],
        );
        // fraud: the model rule (730) for every tenant but globex, whose tenant rule is as
        // specific and longer; acme's tenant rule (200) is as specific and shorter.
        assert_eq!(p.days_for(Some("acme"), "fraud"), Some(730));
        assert_eq!(p.days_for(Some("globex"), "fraud"), Some(1000));
        assert_eq!(retention_text(&p, "fraud", None), "730 days; globex: 1000 days");
        // credit: acme's tenant-and-model rule beats its tenant rule; others have the default.
        assert_eq!(retention_text(&p, "credit", None), "365 days; acme: 400 days; globex: 1000 days");
        // another model: acme's tenant rule, shorter than the default, still applies (more specific).
        assert_eq!(retention_text(&p, "churn", None), "365 days; acme: 200 days; globex: 1000 days");
        // A tenant-bound session sees its own retention only.
        assert_eq!(retention_text(&p, "churn", Some("acme")), "200 days");
        assert_eq!(retention_text(&p, "churn", Some("initech")), "365 days");
    }

    #[test]
    fn a_rule_keeps_records_for_a_limit_even_when_the_default_is_forever() {
        let p = policy(0, vec![rule(Some("acme"), None, 200), rule(None, Some("fraud"), 400)]);
        assert_eq!(retention_text(&p, "credit", None), "forever; acme: 200 days");
        assert_eq!(retention_text(&p, "fraud", None), "400 days");
        assert_eq!(p.days_for(Some("acme"), "fraud"), Some(400), "as specific, longer");
    }
}
