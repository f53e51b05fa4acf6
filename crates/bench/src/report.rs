//! The printed results: one markdown table per backend (figure, value, target), ready to paste
//! into BENCHMARKS.md, and the line that says which machine produced them.

use std::time::Duration;

use crate::client::Measured;

#[derive(Default)]
pub struct Report {
    title: String,
    rows: Vec<[String; 3]>,
    notes: Vec<String>,
}

/// The target column of a figure nobody has set a goal for.
pub const NO_TARGET: &str = "—";

impl Report {
    pub fn titled(self, title: String) -> Self {
        Self { title, ..self }
    }

    pub fn row(&mut self, figure: impl Into<String>, value: impl Into<String>, target: &str) {
        let row = [figure.into(), value.into(), target.to_owned()];
        eprintln!("  {}: {}", row[0], row[1]);
        self.rows.push(row);
    }

    /// A line printed under the table.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn print(&self) {
        println!("\n{}\n", self.title);
        println!("| figure | value | target |");
        println!("|---|---|---|");
        for [figure, value, target] in &self.rows {
            println!("| {figure} | {value} | {target} |");
        }
        for note in &self.notes {
            println!("\n{note}");
        }
    }
}

/// Whether a figure meets its target, for the value column: `met` or `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// `1,234 req/s · p50 0.81 ms · p99 3.2 ms`
pub fn throughput(measured: &Measured, unit: &str) -> String {
    format!(
        "{} {unit} · p50 {} · p99 {}",
        thousands(measured.rate()),
        duration(measured.percentile(0.50)),
        duration(measured.percentile(0.99))
    )
}

/// `p50 … · p95 … · p99 …`, or fewer: the percentiles asked for.
pub fn latency(measured: &Measured, percentiles: &[u8]) -> String {
    let parts: Vec<_> =
        percentiles.iter().map(|&p| format!("p{p} {}", duration(measured.percentile(f64::from(p) / 100.0)))).collect();
    parts.join(" · ")
}

/// `0.81 ms`, `23.4 ms`, `1.25 s`.
pub fn duration(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    match ms {
        ..10.0 => format!("{ms:.2} ms"),
        ..1000.0 => format!("{ms:.1} ms"),
        _ => format!("{:.2} s", ms / 1000.0),
    }
}

pub fn mb(bytes: u64) -> String {
    format!("{} MB", thousands(bytes as f64 / (1024.0 * 1024.0)))
}

/// A whole number with thousands separators: `1,234,567`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `Machine: AMD EPYC, 2 cores, 23 GB RAM; …` from /proc.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':').map(|(_, model)| model.trim()))
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:")?.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(|| "unknown".to_owned(), |kb| format!("{:.0} GB", kb as f64 / (1024.0 * 1024.0)));
    format!(
        "Machine: {cpu}, {cores} cores, {memory} RAM; the client runs on the same cores as the server, over \
         loopback HTTP/1.1 keep-alive."
    )
}
