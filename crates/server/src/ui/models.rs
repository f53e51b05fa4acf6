//! `/models`: every model version with its prediction count, outcome mix and confidence
//! histogram (over the predictions this session may see).

use std::collections::HashMap;

use axum::extract::State;
use maud::{Markup, html};
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
