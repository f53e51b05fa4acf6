//! Charts as inline SVG, drawn on the server: no script, no external asset, and readable by
//! screen readers (each chart has a title and a description, and its numbers are also in a table
//! on the page).

use maud::{Markup, html};

use super::format;

/// Colours that stay distinguishable for colour-blind readers (Okabe–Ito).
pub const PALETTE: &[&str] = &["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#333333"];
pub const POSITIVE: &str = "#C2410C";
pub const NEGATIVE: &str = "#1D4ED8";

fn px(value: f64) -> String {
    format!("{value:.1}")
}

/// Where a chart's plot area sits in its SVG: the whole width and the margins that hold labels.
struct Frame {
    width: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    const fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }
}

/// Horizontal bars around a zero line, largest magnitude on top; positive bars go right in
/// `POSITIVE`, negative ones left in `NEGATIVE`. `items` must already be sorted.
pub fn attribution_chart(items: &[(String, f64)], title: &str) -> Markup {
    // Names on the left, values on the right; the height grows with the rows.
    const FRAME: Frame = Frame { width: 720.0, left: 210.0, right: 70.0, top: 8.0, bottom: 26.0 };
    const ROW: f64 = 24.0;
    const WIDTH: f64 = FRAME.width;
    const TOP: f64 = FRAME.top;
    let plot = FRAME.plot_width();
    let zero = FRAME.left + plot / 2.0;
    let max = items.iter().map(|(_, v)| v.abs()).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let height = TOP + ROW * items.len() as f64 + FRAME.bottom;
    html! {
        svg.chart.attribution-chart role="img" aria-labelledby="attr-title attr-desc"
            viewBox=(format!("0 0 {WIDTH} {}", px(height))) width=(WIDTH) height=(px(height))
            xmlns="http://www.w3.org/2000/svg" {
            title #attr-title { (title) }
            desc #attr-desc { "Bars to the right raised the model's score, bars to the left lowered it; longest first." }
            line x1=(px(zero)) x2=(px(zero)) y1=(px(TOP - 4.0)) y2=(px(TOP + ROW * items.len() as f64 + 2.0))
                stroke="#6b7280" stroke-width="1" {}
            @for (i, (name, value)) in items.iter().enumerate() {
                @let y = TOP + ROW * i as f64;
                @let length = (value.abs() / max) * (plot / 2.0 - 4.0);
                @let x = if *value < 0.0 { zero - length } else { zero };
                @let positive = *value >= 0.0;
                g.bar-row data-feature=(name) data-value=(value) {
                    text.label x=(px(FRAME.left - 8.0)) y=(px(y + ROW * 0.68)) text-anchor="end" { (truncate(name, 30)) }
                    rect.bar.pos[positive].neg[!positive] x=(px(x)) y=(px(y + 4.0)) width=(px(length.max(1.0)))
                        height=(px(ROW - 8.0)) rx="2" fill=(if positive { POSITIVE } else { NEGATIVE }) {
                        title { (name) ": " (format::signed(*value)) }
                    }
                    text.value x=(px(if positive { zero + length + 6.0 } else { zero - length - 6.0 }))
                        y=(px(y + ROW * 0.68)) text-anchor=(if positive { "start" } else { "end" }) {
                        (format::signed(*value))
                    }
                }
            }
            text.axis x=(px(zero - 6.0)) y=(px(height - 4.0)) text-anchor="end" fill=(NEGATIVE) { "← lowers the score" }
            text.axis x=(px(zero + 6.0)) y=(px(height - 4.0)) text-anchor="start" fill=(POSITIVE) { "raises the score →" }
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// One line of the hourly chart.
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    /// One count per hour of the window, oldest first.
    pub counts: Vec<u64>,
}

/// Predictions per hour, one line per series, with day ticks along the bottom.
pub fn hourly_chart(series: &[Series], start: time::OffsetDateTime, hours: usize, title: &str) -> Markup {
    const FRAME: Frame = Frame { width: 960.0, left: 52.0, right: 12.0, top: 12.0, bottom: 30.0 };
    const HEIGHT: f64 = 280.0;
    const WIDTH: f64 = FRAME.width;
    const LEFT: f64 = FRAME.left;
    const TOP: f64 = FRAME.top;
    let plot_w = FRAME.plot_width();
    let plot_h = HEIGHT - TOP - FRAME.bottom;
    let max = series.iter().flat_map(|s| s.counts.iter().copied()).max().unwrap_or(0).max(1);
    let top = nice_ceiling(max);
    let x = |hour: usize| LEFT + plot_w * (hour as f64 + 0.5) / hours.max(1) as f64;
    let y = |count: u64| TOP + plot_h - plot_h * count as f64 / top as f64;
    let tick_every: i64 = if hours <= 48 {
        6
    } else if hours <= 24 * 8 {
        24
    } else {
        24 * 5
    };
    let first_hour = start.unix_timestamp().div_euclid(3600);
    let ticks: Vec<usize> = (0..hours).filter(|h| (first_hour + *h as i64) % tick_every == 0).collect();
    html! {
        svg.chart.hourly-chart role="img" aria-labelledby="hourly-title hourly-desc"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet" {
            title #hourly-title { (title) }
            desc #hourly-desc { "One line per model version; the table below the chart has the totals." }
            @for step in 0..=4u64 {
                @let value = top * step / 4;
                line x1=(px(LEFT)) x2=(px(WIDTH - FRAME.right)) y1=(px(y(value))) y2=(px(y(value)))
                    stroke="#e5e7eb" stroke-width="1" {}
                text.axis x=(px(LEFT - 6.0)) y=(px(y(value) + 4.0)) text-anchor="end" { (format::count(value)) }
            }
            @for hour in ticks.iter().copied() {
                @let at = start + time::Duration::hours(hour as i64);
                line x1=(px(x(hour))) x2=(px(x(hour))) y1=(px(TOP + plot_h)) y2=(px(TOP + plot_h + 4.0)) stroke="#6b7280" {}
                text.axis x=(px(x(hour))) y=(px(HEIGHT - 10.0)) text-anchor="middle" {
                    (if tick_every < 24 { format::short_time(at) } else { format::day(at) })
                }
            }
            line x1=(px(LEFT)) x2=(px(WIDTH - FRAME.right)) y1=(px(TOP + plot_h)) y2=(px(TOP + plot_h)) stroke="#6b7280" {}
            @for s in series {
                @let points: Vec<String> = s.counts.iter().enumerate().map(|(h, c)| format!("{},{}", px(x(h)), px(y(*c)))).collect();
                polyline.series data-label=(s.label) points=(points.join(" ")) fill="none" stroke=(s.colour)
                    stroke-width="1.6" stroke-linejoin="round" {
                    title { (s.label) }
                }
            }
        }
    }
}

/// 1, 2, 5 × 10ⁿ at or above `value`.
fn nice_ceiling(value: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for step in [1, 2, 5] {
            if step * magnitude >= value {
                return step * magnitude;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// A small histogram of confidence in ten bins from 0 to 1.
pub fn histogram(bins: &[u64], label: &str) -> Markup {
    const WIDTH: f64 = 240.0;
    const HEIGHT: f64 = 90.0;
    const BOTTOM: f64 = 16.0;
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let bar_w = WIDTH / bins.len().max(1) as f64;
    html! {
        svg.chart.histogram role="img" aria-label=(label) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            width=(WIDTH) height=(HEIGHT) xmlns="http://www.w3.org/2000/svg" {
            @for (i, n) in bins.iter().enumerate() {
                @let h = (HEIGHT - BOTTOM - 4.0) * *n as f64 / max as f64;
                rect.bin x=(px(i as f64 * bar_w + 1.0)) y=(px(HEIGHT - BOTTOM - h)) width=(px(bar_w - 2.0))
                    height=(px(h.max(if *n > 0 { 1.0 } else { 0.0 }))) fill="#0072B2" data-count=(n) {
                    title { (format!("{:.1}–{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0)) ": " (format::count(*n)) }
                }
            }
            line x1="0" x2=(WIDTH) y1=(px(HEIGHT - BOTTOM)) y2=(px(HEIGHT - BOTTOM)) stroke="#6b7280" {}
            text.axis x="0" y=(px(HEIGHT - 3.0)) { "0" }
            text.axis x=(px(WIDTH / 2.0)) y=(px(HEIGHT - 3.0)) text-anchor="middle" { "0.5" }
            text.axis x=(px(WIDTH)) y=(px(HEIGHT - 3.0)) text-anchor="end" { "1" }
        }
    }
}

/// One bar split by share, e.g. outcomes; the legend beside it has the numbers.
pub fn stacked_bar(parts: &[(String, u64, &'static str)], label: &str) -> Markup {
    const WIDTH: f64 = 320.0;
    const HEIGHT: f64 = 18.0;
    let total: u64 = parts.iter().map(|(_, n, _)| n).sum::<u64>().max(1);
    let mut offset = 0.0;
    let placed: Vec<(f64, f64, &str, u64, &str)> = parts
        .iter()
        .map(|(name, n, colour)| {
            let w = WIDTH * *n as f64 / total as f64;
            offset += w;
            (offset - w, w, name.as_str(), *n, *colour)
        })
        .collect();
    html! {
        svg.chart.stacked role="img" aria-label=(label) viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) width=(WIDTH)
            height=(HEIGHT) xmlns="http://www.w3.org/2000/svg" {
            @for (x, w, name, n, colour) in placed {
                rect x=(px(x)) y="0" width=(px(w)) height=(HEIGHT) fill=(colour) {
                    title { (if name.is_empty() { "(none)" } else { name }) ": " (format::count(n)) }
                }
            }
        }
    }
}

/// One day of an [`accuracy_chart`].
pub struct DayAccuracy {
    pub day: time::OffsetDateTime,
    /// The share of the day's classified outcomes that the model decided right; `None` when too
    /// few outcomes arrived to say.
    pub accuracy: Option<f64>,
    /// The classified outcomes it is computed from.
    pub outcomes: i64,
}

/// Accuracy per day as a line on a 0–100% scale, a dot per day with enough outcomes; days
/// without break the line. Weekly day ticks along the bottom.
pub fn accuracy_chart(days: &[DayAccuracy], label: &str) -> Markup {
    const FRAME: Frame = Frame { width: 360.0, left: 36.0, right: 20.0, top: 8.0, bottom: 20.0 };
    const HEIGHT: f64 = 130.0;
    const WIDTH: f64 = FRAME.width;
    let plot_w = FRAME.plot_width();
    let plot_h = HEIGHT - FRAME.top - FRAME.bottom;
    let x = |i: usize| FRAME.left + plot_w * (i as f64 + 0.5) / days.len().max(1) as f64;
    let y = |share: f64| FRAME.top + plot_h * (1.0 - share.clamp(0.0, 1.0));
    // Runs of consecutive days with a value, each drawn as one line.
    let mut runs: Vec<Vec<String>> = Vec::new();
    let mut previous = false;
    for (i, day) in days.iter().enumerate() {
        match day.accuracy {
            Some(share) => {
                if !previous {
                    runs.push(Vec::new());
                }
                if let Some(run) = runs.last_mut() {
                    run.push(format!("{},{}", px(x(i)), px(y(share))));
                }
                previous = true;
            }
            None => previous = false,
        }
    }
    let last = days.len().saturating_sub(1);
    html! {
        svg.chart.accuracy-chart role="img" aria-label=(label) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            width=(WIDTH) height=(HEIGHT) xmlns="http://www.w3.org/2000/svg" {
            @for step in 0..=4u32 {
                @let share = f64::from(step) / 4.0;
                line x1=(px(FRAME.left)) x2=(px(WIDTH - FRAME.right)) y1=(px(y(share))) y2=(px(y(share)))
                    stroke=(if step == 0 { "#6b7280" } else { "#e5e7eb" }) stroke-width="1" {}
                @if step.is_multiple_of(2) {
                    text.axis x=(px(FRAME.left - 4.0)) y=(px(y(share) + 4.0)) text-anchor="end" { (step * 25) "%" }
                }
            }
            @for (i, day) in days.iter().enumerate() {
                @if (last - i).is_multiple_of(7) {
                    text.axis x=(px(x(i))) y=(px(HEIGHT - 5.0)) text-anchor="middle" { (format::day(day.day)) }
                }
            }
            @for run in &runs {
                @if run.len() > 1 {
                    polyline.accuracy-line points=(run.join(" ")) fill="none" stroke=(PALETTE[0]) stroke-width="1.6"
                        stroke-linejoin="round" {}
                }
            }
            @for (i, day) in days.iter().enumerate() {
                @if let Some(share) = day.accuracy {
                    circle.day cx=(px(x(i))) cy=(px(y(share))) r="2.6" fill=(PALETTE[0])
                        data-day=(format::iso_day(day.day)) data-accuracy=(format!("{share:.4}")) data-outcomes=(day.outcomes) {
                        title { (format::day(day.day)) ": " (format::ratio(share)) " of " (format::count(day.outcomes.max(0) as u64)) " outcomes" }
                    }
                }
            }
        }
    }
}

/// A small square of a series' colour, for legends (an SVG: the page allows no inline styles).
pub fn swatch(colour: &str) -> Markup {
    html! {
        svg.swatch width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" xmlns="http://www.w3.org/2000/svg" {
            rect width="12" height="12" rx="2" fill=(colour) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_text_is_escaped() {
        let chart = attribution_chart(&[("<script>".into(), 1.0)], "t").into_string();
        assert!(chart.contains("&lt;script&gt;") && !chart.contains("<script>"));
    }

    #[test]
    fn the_accuracy_line_breaks_where_days_have_no_value() {
        let start = time::macros::datetime!(2026-11-01 0:00 UTC);
        let days: Vec<DayAccuracy> = [Some(0.9), Some(0.8), None, Some(0.7), Some(0.75)]
            .into_iter()
            .enumerate()
            .map(|(i, accuracy)| DayAccuracy { day: start + time::Duration::days(i as i64), accuracy, outcomes: 10 })
            .collect();
        let chart = accuracy_chart(&days, "t").into_string();
        assert_eq!(chart.matches("<polyline").count(), 2);
        assert_eq!(chart.matches("<circle").count(), 4);
        assert!(chart.contains("data-day=\"2026-11-04\" data-accuracy=\"0.7000\""));
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(130), 200);
    }
}
