//! `/`: the overview, predictions per hour per model version over a chosen window.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use ml_audit_core::timestamp;
use ml_audit_storage::TimeWindow;
use time::Duration;

use super::Column::{Num, Text};
use super::charts::{PALETTE, Series, hourly_chart, swatch};
use super::format::{self, query};
use super::{SEALED_TOTALS, Section, Session, UiError, layout, list_table};
use crate::query::query_pairs;
use crate::state::AppState;

/// The windows on offer: (parameter, label, hours).
const WINDOWS: &[(&str, &str, i64)] =
    &[("24h", "24 hours", 24), ("7d", "7 days", 24 * 7), ("30d", "30 days", 24 * 30), ("90d", "90 days", 24 * 90)];
const DEFAULT_WINDOW: usize = 1;

pub async fn page(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Markup, UiError> {
    let pairs = query_pairs(raw).unwrap_or_default();
    let chosen = pairs.iter().find(|(name, _)| name == "window").map(|(_, v)| v.as_str()).unwrap_or_default();
    let selected = WINDOWS.iter().position(|(key, _, _)| *key == chosen).unwrap_or(DEFAULT_WINDOW);
    let (_, label, hours) = WINDOWS[selected];
    let now = timestamp::now();
    let this_hour = now.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0));
    let end = this_hour.unwrap_or(now) + Duration::hours(1);
    let start = end - Duration::hours(hours);
    let counts = state.insights.hourly_counts(&session.visibility, &TimeWindow { from: start, to: end }).await?;
    let models = state.predictions.list_models().await?;

    let mut per_model: HashMap<_, Vec<u64>> = HashMap::new();
    for c in &counts {
        let slot = ((c.hour - start).whole_hours()).clamp(0, hours - 1) as usize;
        per_model.entry(c.model_id).or_insert_with(|| vec![0; hours as usize])[slot] += c.count;
    }
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for model in &models {
        if let Some(hourly) = per_model.remove(&model.id) {
            let colour = PALETTE[series.len() % PALETTE.len()];
            let total: u64 = hourly.iter().sum();
            let (peak_slot, peak) =
                hourly.iter().enumerate().max_by_key(|(i, n)| (**n, usize::MAX - i)).unwrap_or((0, &0));
            rows.push((model, colour, total, start + Duration::hours(peak_slot as i64), *peak));
            series.push(Series { label: format!("{} {}", model.model_name, model.version), colour, counts: hourly });
        }
    }
    let total: u64 = rows.iter().map(|r| r.2).sum();
    Ok(layout(
        "Overview",
        Some(Section::Overview),
        Some(&session),
        html! {
            h1 { "Overview" }
            form.window method="get" action="/" {
                label for="window" { "Window" }
                select #window name="window" {
                    @for (i, (key, text, _)) in WINDOWS.iter().enumerate() {
                        option value=(key) selected[i == selected] { "last " (text) }
                    }
                }
                button type="submit" { "Show" }
            }
            p.lede {
                strong #window-total { (format::count(total)) } " predictions in the last " (label)
                @if let Some(tenant) = &session.key.tenant_id { " for tenant " strong { (tenant) } }
                " (" (format::short_time(start)) " to " (format::short_time(end)) " UTC)."
            }
            p.hint { (SEALED_TOTALS) }
            @if series.is_empty() {
                p.empty { "No predictions in this window." }
            } @else {
                figure.chart-frame {
                    (hourly_chart(&series, start, hours as usize, &format!("Predictions per hour per model version, last {label}")))
                    figcaption { "Predictions per hour (UTC), one line per model version." }
                }
                (list_table("window-models", "Predictions per model version in the window", &[
                    Text("Model version"), Num("Predictions"), Num("Share"), Text("Busiest hour (UTC)"),
                ], html! {
                    @for (model, colour, n, peak_at, peak) in &rows {
                        tr {
                            td {
                                (swatch(colour)) " "
                                a href=(format!("/predictions{}", query([("model_name", model.model_name.as_str()), ("model_version", model.version.as_str())]))) {
                                    (model.model_name) " " (model.version)
                                }
                            }
                            td.num { (format::count(*n)) }
                            td.num { (format::percent(*n, total)) }
                            td { (format::short_time(*peak_at)) " · " (format::count(*peak)) }
                        }
                    }
                }))
            }
        },
    ))
}
