//! `/models`: every model version with its prediction count, outcome mix and confidence
//! histogram (over the predictions this session may see), the retention in force for it, and its
//! quality from outcomes and reviews: accuracy (overall and per day), confusion matrix, MAE and
//! RMSE, and how often reviewers override it.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use futures_util::future::try_join_all;
use maud::{Markup, html};
use ml_audit_core::auth::Visibility;
use ml_audit_core::lifecycle::RetentionPolicy;
use ml_audit_core::model::ModelVersion;
use ml_audit_core::quality::QualityReport;
use ml_audit_core::timestamp;
use ml_audit_storage::{ModelVersionStats, OutcomeStore, QualityWindow};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::charts::{DayAccuracy, PALETTE, accuracy_chart, histogram, stacked_bar, swatch};
use super::format::{self, query};
use super::{SEALED_TOTALS, Section, Session, UiError, layout};
use crate::state::AppState;

/// Days of the accuracy chart, today included.
const TREND_DAYS: i64 = 30;
/// Model versions whose daily accuracy is drawn, the most recently first seen first: each costs a
/// quality report per day (a few small queries over the hourly totals). The others show their
/// overall quality only.
const MAX_TRENDS: usize = 12;
/// Fewest classified outcomes that make a day's accuracy worth a point on the chart.
const MIN_DAY_OUTCOMES: i64 = 5;

/// A model version's quality: overall, and per day of the last [`TREND_DAYS`] when drawn.
struct Quality {
    overall: QualityReport,
    days: Option<Vec<(OffsetDateTime, QualityReport)>>,
}

/// Outcomes the model's decision can be compared with (a label on both sides).
fn classified(report: &QualityReport) -> i64 {
    report.classification.as_ref().map_or(0, |c| c.confusion.iter().map(|(_, _, n)| n).sum())
}

async fn quality_of(
    store: &dyn OutcomeStore,
    visibility: &Visibility,
    model: Uuid,
    trend_from: Option<OffsetDateTime>,
) -> Result<Quality, UiError> {
    let overall = store.model_quality(visibility, model, &QualityWindow::default()).await?;
    let days = match trend_from {
        // Nothing to draw for a version no outcome or review has reached.
        Some(from) if overall.with_outcome > 0 || overall.reviewed > 0 => {
            let windows = (0..TREND_DAYS).map(|i| {
                let start = from + Duration::days(i);
                let window = QualityWindow {
                    from: Some(start),
                    to: Some(start + Duration::days(1) - Duration::MICROSECOND),
                    tenant_id: None,
                };
                async move { store.model_quality(visibility, model, &window).await.map(|report| (start, report)) }
            });
            Some(try_join_all(windows).await?)
        }
        _ => None,
    };
    Ok(Quality { overall, days })
}

pub async fn page(session: Session, State(state): State<AppState>) -> Result<Markup, UiError> {
    let models = state.predictions.list_models().await?;
    let today = timestamp::now().replace_time(time::Time::MIDNIGHT);
    let trend_from = today - Duration::days(TREND_DAYS - 1);
    let mut newest: Vec<&ModelVersion> = models.iter().collect();
    newest.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let trended: BTreeSet<Uuid> = newest.iter().take(MAX_TRENDS).map(|m| m.id).collect();
    let store = state.outcomes.as_ref();
    let reports = try_join_all(models.iter().map(|model| {
        let from = trended.contains(&model.id).then_some(trend_from);
        quality_of(store, &session.visibility, model.id, from)
    }))
    .await?;
    let quality: HashMap<Uuid, Quality> = models.iter().map(|m| m.id).zip(reports).collect();
    // Each version's predecessor (the same model, first seen before it), to compare override rates with.
    let predecessor = |model: &ModelVersion| {
        models
            .iter()
            .filter(|m| m.model_name == model.model_name && m.created_at < model.created_at)
            .max_by_key(|m| m.created_at)
    };
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
                        @if let Some(q) = quality.get(&model.id) {
                            (quality_section(model, q, predecessor(model).and_then(|m| quality.get(&m.id).map(|q| (m, q)))))
                        }
                    }
                }
            }
        },
    ))
}

/// Overridden predictions per prediction; `None` without predictions.
fn override_rate(report: &QualityReport) -> Option<f64> {
    (report.predictions > 0).then(|| report.overridden as f64 / report.predictions as f64)
}

/// A version's quality: its figures, how its override rate compares with its predecessor's,
/// accuracy per day, and the confusion matrix.
fn quality_section(model: &ModelVersion, q: &Quality, predecessor: Option<(&ModelVersion, &Quality)>) -> Markup {
    let r = &q.overall;
    let name = format!("{} {}", model.model_name, model.version);
    let rate = override_rate(r);
    let compared = predecessor.and_then(|(m, pq)| {
        let theirs = override_rate(&pq.overall).filter(|v| *v > 0.0)?;
        Some((m, rate? / theirs))
    });
    html! {
        section.quality id=(format!("quality-{}", model.id)) aria-label=(format!("Quality of {name}")) {
            h3 { "Quality" }
            dl.figures {
                dt { "Accuracy" }
                dd.accuracy data-value=(r.classification.as_ref().map(|c| format!("{:.4}", c.accuracy)).unwrap_or_default()) {
                    @if let Some(c) = &r.classification {
                        strong { (format::ratio(c.accuracy)) } " " span.meta { "of " (format::count(classified(r) as u64)) " labelled outcomes" }
                    } @else { span.no { "no labelled outcome yet" } }
                }
                dt { "With outcome" }
                dd.with-outcome data-value=(r.with_outcome) {
                    (format::count(r.with_outcome.max(0) as u64)) " of " (format::count(r.predictions.max(0) as u64))
                    " " span.meta { "(" (format::rate(r.with_outcome, r.predictions)) ")" }
                }
                dt { "Override rate" }
                dd.override-rate data-value=(rate.map(|v| format!("{v:.6}")).unwrap_or_default()) data-overridden=(r.overridden) {
                    strong { (format::rate(r.overridden, r.predictions)) } " "
                    span.meta { "(" (format::count(r.overridden.max(0) as u64)) " overridden of " (format::count(r.predictions.max(0) as u64)) ")" }
                }
                dt { "Reviewed" }
                dd.reviewed data-value=(r.reviewed) {
                    (format::count(r.reviewed.max(0) as u64)) " " span.meta { "(" (format::rate(r.reviewed, r.predictions)) ")" }
                }
                @if let Some(reg) = &r.regression {
                    dt { "MAE / RMSE" }
                    dd.regression data-mae=(format!("{:.6}", reg.mae)) data-rmse=(format!("{:.6}", reg.rmse)) {
                        (format!("{:.3}", reg.mae)) " / " (format!("{:.3}", reg.rmse)) " "
                        span.meta { "(" (format::count(reg.count.max(0) as u64)) " scored)" }
                    }
                }
            }
            @if let Some((previous, times)) = compared {
                p.compare title=(format!("Override rate of {name} divided by that of {} {}", previous.model_name, previous.version)) {
                    "Overridden " strong { (format!("{times:.1}×")) } " as often as " (previous.version)
                }
            }
            @if let Some(days) = &q.days {
                @let points: Vec<DayAccuracy> = days.iter().map(|(day, report)| {
                    let n = classified(report);
                    DayAccuracy {
                        day: *day,
                        accuracy: report.classification.as_ref().filter(|_| n >= MIN_DAY_OUTCOMES).map(|c| c.accuracy),
                        outcomes: n,
                    }
                }).collect();
                div.trend {
                    h3 { "Accuracy per day, last " (TREND_DAYS) " days" }
                    (accuracy_chart(&points, &format!("Accuracy per day of {name}, last {TREND_DAYS} days")))
                    p.hint { "By the day of the prediction (UTC); outcomes arrive days later, so recent days have fewer. Days with fewer than " (MIN_DAY_OUTCOMES) " labelled outcomes are left out." }
                    details {
                        summary { "Daily figures" }
                        table.list.daily {
                            thead { tr {
                                th scope="col" { "Day" } th scope="col" .num { "Predictions" } th scope="col" .num { "Outcomes" }
                                th scope="col" .num { "Accuracy" } th scope="col" .num { "Overridden" }
                            } }
                            tbody {
                                @for ((day, report), point) in days.iter().zip(&points) {
                                    tr {
                                        td { (format::day(*day)) }
                                        td.num { (format::count(report.predictions.max(0) as u64)) }
                                        td.num { (format::count(report.with_outcome.max(0) as u64)) }
                                        td.num { @if let Some(c) = &report.classification { (format::ratio(c.accuracy)) } @else { "—" } @if point.accuracy.is_none() && report.classification.is_some() { "*" } }
                                        td.num { (format::count(report.overridden.max(0) as u64)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = &r.classification {
                (confusion_matrix(model, &name, c))
            }
        }
    }
}

/// Predicted (rows) × actual (columns) counts of the current outcomes, with each label's recall
/// and precision below.
fn confusion_matrix(model: &ModelVersion, name: &str, c: &ml_audit_core::quality::Classification) -> Markup {
    let labels: Vec<&String> = c.labels.keys().collect();
    let count = |predicted: &str, actual: &str| {
        c.confusion.iter().find(|(p, a, _)| p == predicted && a == actual).map_or(0, |(_, _, n)| *n)
    };
    let share = |value: Option<f64>| value.map_or_else(|| "—".to_owned(), format::ratio);
    html! {
        div.confusion-wrap {
            h3 { "Confusion matrix" }
            div.table-wrap {
                table.list.confusion id=(format!("confusion-{}", model.id)) {
                    caption.visually-hidden {
                        "Confusion matrix of " (name) ": the model's decision by row, the outcome by column; "
                        "below, each label's recall (of its outcomes, the share decided so) and precision (of its decisions, the share right)"
                    }
                    thead { tr {
                        th scope="col" .corner { "decided ↓ actual →" }
                        @for label in &labels { th scope="col" .num { (breakable(label)) } }
                    } }
                    tbody {
                        @for predicted in &labels {
                            tr data-predicted=(predicted) {
                                th scope="row" { (breakable(predicted)) }
                                @for actual in &labels {
                                    @let n = count(predicted, actual);
                                    td.num.cell.hit[predicted == actual] data-predicted=(predicted) data-actual=(actual) data-count=(n) {
                                        @if n == 0 { span.no { "0" } } @else { (format::count(n as u64)) }
                                    }
                                }
                            }
                        }
                    }
                    tfoot {
                        tr.recall {
                            th scope="row" title="Of the outcomes with this label, the share the model decided so" { "Recall" }
                            @for label in &labels { td.num data-label=(label) { (share(c.labels.get(*label).and_then(|l| l.recall))) } }
                        }
                        tr.precision {
                            th scope="row" title="Of the decisions for this label, the share whose outcome agreed" { "Precision" }
                            @for label in &labels { td.num data-label=(label) { (share(c.labels.get(*label).and_then(|l| l.precision))) } }
                        }
                    }
                }
            }
        }
    }
}

/// A label that may wrap after its underscores (`manual_review`) in a narrow table.
fn breakable(label: &str) -> Markup {
    html! {
        @for (i, part) in label.split('_').enumerate() {
            @if i > 0 { "_" wbr; }
            (part)
        }
    }
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
