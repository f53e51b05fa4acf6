//! Model quality from outcomes and reviews: what one prediction adds to its model version's
//! running totals ([`Contribution`]), and the report those totals give ([`QualityReport`]).
//!
//! Totals are kept per model version, tenant and hour of the prediction's `timestamp`. When a
//! later outcome supersedes an earlier one, or a review changes the decision, the store takes
//! the prediction's old contribution away and adds its new one, so the totals always describe
//! the current outcome and decision of every prediction.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Decision;

/// What a prediction is judged by: the model's decision and numeric output, its current outcome
/// and its review.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged<'a> {
    pub decision_outcome: &'a str,
    pub predicted_value: Option<f64>,
    pub outcome_label: Option<&'a str>,
    pub outcome_value: Option<f64>,
    pub has_outcome: bool,
    pub reviewed: bool,
    pub overridden: bool,
}

/// The numeric value a prediction's `output` gives for regression: the output itself when it is a
/// number, else its `score`, else its `value` member when those are numbers.
pub fn predicted_value(output: &Value) -> Option<f64> {
    match output {
        Value::Number(n) => n.as_f64(),
        Value::Object(map) => ["score", "value"].iter().find_map(|key| map.get(*key).and_then(Value::as_f64)),
        _ => None,
    }
}

/// One prediction's share of its model version's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contribution {
    pub with_outcome: i64,
    /// (predicted, actual): the decision and the outcome's label, when both are there.
    pub pair: Option<(String, String)>,
    /// The absolute error of the predicted value against the outcome's value.
    pub error: Option<f64>,
    pub reviewed: i64,
    pub overridden: i64,
}

impl Contribution {
    pub fn of(judged: &Judged<'_>) -> Self {
        let pair = match (judged.decision_outcome, judged.outcome_label) {
            (predicted, Some(actual)) if !predicted.is_empty() && !actual.is_empty() => {
                Some((predicted.to_owned(), actual.to_owned()))
            }
            _ => None,
        };
        let error =
            judged.predicted_value.zip(judged.outcome_value).map(|(p, a)| (p - a).abs()).filter(|e| e.is_finite());
        Self {
            with_outcome: i64::from(judged.has_outcome),
            pair,
            error,
            reviewed: i64::from(judged.reviewed),
            overridden: i64::from(judged.overridden),
        }
    }
}

/// Running totals of a set of predictions (a model version's, in one tenant and hour, or summed
/// over a window). Negative deltas take a superseded contribution away.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityTotals {
    pub with_outcome: i64,
    pub regression_count: i64,
    pub abs_error: f64,
    pub squared_error: f64,
    pub reviewed: i64,
    pub overridden: i64,
    /// (predicted, actual) → count.
    pub confusion: BTreeMap<(String, String), i64>,
}

impl QualityTotals {
    /// Adds a contribution (`sign` 1) or takes it away (`sign` -1).
    pub fn add(&mut self, contribution: &Contribution, sign: i64) {
        self.with_outcome += sign * contribution.with_outcome;
        self.reviewed += sign * contribution.reviewed;
        self.overridden += sign * contribution.overridden;
        if let Some(error) = contribution.error {
            self.regression_count += sign;
            self.abs_error += sign as f64 * error;
            self.squared_error += sign as f64 * error * error;
        }
        if let Some(pair) = &contribution.pair {
            *self.confusion.entry(pair.clone()).or_default() += sign;
        }
    }

    /// The change from `before` to `after`.
    pub fn change(before: &Contribution, after: &Contribution) -> Self {
        let mut delta = Self::default();
        delta.add(before, -1);
        delta.add(after, 1);
        delta
    }

    pub fn merge(&mut self, other: &QualityTotals) {
        self.with_outcome += other.with_outcome;
        self.regression_count += other.regression_count;
        self.abs_error += other.abs_error;
        self.squared_error += other.squared_error;
        self.reviewed += other.reviewed;
        self.overridden += other.overridden;
        for (pair, count) in &other.confusion {
            *self.confusion.entry(pair.clone()).or_default() += count;
        }
    }

    /// Nothing changes (a review that left the decision as it was).
    pub fn is_zero(&self) -> bool {
        self.with_outcome == 0
            && self.regression_count == 0
            && self.abs_error == 0.0
            && self.squared_error == 0.0
            && self.reviewed == 0
            && self.overridden == 0
            && self.confusion.values().all(|n| *n == 0)
    }
}

/// Precision, recall and support of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelQuality {
    /// Of the predictions with this decision, the share whose outcome was this label (`None`:
    /// the model never decided it).
    pub precision: Option<f64>,
    /// Of the outcomes with this label, the share the model decided (`None`: no such outcome).
    pub recall: Option<f64>,
    /// Outcomes with this label.
    pub support: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub accuracy: f64,
    pub labels: BTreeMap<String, LabelQuality>,
    /// (predicted, actual, count), by predicted then actual; pairs with no prediction left out.
    pub confusion: Vec<(String, String, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    pub mae: f64,
    pub rmse: f64,
    pub count: i64,
}

/// `GET /models/{id}/quality`: a model version's quality over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityReport {
    pub predictions: i64,
    pub with_outcome: i64,
    pub classification: Option<Classification>,
    pub regression: Option<Regression>,
    pub reviewed: i64,
    pub overridden: i64,
}

impl QualityReport {
    pub fn new(predictions: i64, totals: &QualityTotals) -> Self {
        let confusion: Vec<(String, String, i64)> = totals
            .confusion
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|((predicted, actual), count)| (predicted.clone(), actual.clone(), *count))
            .collect();
        let classified: i64 = confusion.iter().map(|(_, _, n)| n).sum();
        let classification = (classified > 0).then(|| {
            let correct: i64 = confusion.iter().filter(|(p, a, _)| p == a).map(|(_, _, n)| n).sum();
            let mut labels = BTreeMap::new();
            let names: std::collections::BTreeSet<&String> = confusion.iter().flat_map(|(p, a, _)| [p, a]).collect();
            for label in names {
                let decided: i64 = confusion.iter().filter(|(p, _, _)| p == label).map(|(_, _, n)| n).sum();
                let support: i64 = confusion.iter().filter(|(_, a, _)| a == label).map(|(_, _, n)| n).sum();
                let hits: i64 = confusion.iter().filter(|(p, a, _)| p == label && a == label).map(|(_, _, n)| n).sum();
                let ratio = |n: i64, of: i64| (of > 0).then(|| n as f64 / of as f64);
                labels.insert(
                    label.clone(),
                    LabelQuality { precision: ratio(hits, decided), recall: ratio(hits, support), support },
                );
            }
            Classification { accuracy: correct as f64 / classified as f64, labels, confusion }
        });
        let regression = (totals.regression_count > 0).then(|| {
            let n = totals.regression_count as f64;
            Regression {
                mae: (totals.abs_error / n).max(0.0),
                rmse: (totals.squared_error / n).max(0.0).sqrt(),
                count: totals.regression_count,
            }
        });
        Self {
            predictions,
            with_outcome: totals.with_outcome,
            classification,
            regression,
            reviewed: totals.reviewed,
            overridden: totals.overridden,
        }
    }
}

/// A prediction's decision as the quality totals count it.
pub fn judged<'a>(
    decision_outcome: &'a str,
    predicted_value: Option<f64>,
    outcome: Option<(Option<&'a str>, Option<f64>)>,
    decision: &Decision,
) -> Judged<'a> {
    Judged {
        decision_outcome,
        predicted_value,
        outcome_label: outcome.and_then(|(label, _)| label),
        outcome_value: outcome.and_then(|(_, value)| value),
        has_outcome: outcome.is_some(),
        reviewed: decision.reviewed,
        overridden: decision.overridden,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Decision;

    #[test]
    fn the_predicted_value_is_the_output_or_its_score_or_value() {
        assert_eq!(predicted_value(&json!(3.5)), Some(3.5));
        assert_eq!(predicted_value(&json!({"score": 0.8, "value": 2})), Some(0.8));
        assert_eq!(predicted_value(&json!({"value": 2})), Some(2.0));
        assert_eq!(predicted_value(&json!({"label": "x"})), None);
        assert_eq!(predicted_value(&json!("3")), None);
    }

    #[test]
    fn a_superseded_outcome_is_taken_away() {
        let unreviewed = Decision::unreviewed("fraud");
        let first = Contribution::of(&judged("fraud", Some(0.9), Some((Some("fraud"), Some(1.0))), &unreviewed));
        let second = Contribution::of(&judged("fraud", Some(0.9), Some((Some("legit"), Some(0.0))), &unreviewed));
        let mut totals = QualityTotals::default();
        totals.merge(&QualityTotals::change(&Contribution::default(), &first));
        totals.merge(&QualityTotals::change(&first, &second));
        let report = QualityReport::new(1, &totals);
        let classification = report.classification.unwrap();
        assert_eq!(classification.confusion, vec![("fraud".into(), "legit".into(), 1)]);
        assert_eq!(classification.accuracy, 0.0);
        assert_eq!(report.with_outcome, 1);
        let regression = report.regression.unwrap();
        assert!((regression.mae - 0.9).abs() < 1e-12 && regression.count == 1);
    }

    #[test]
    fn precision_and_recall_come_from_the_confusion_counts() {
        let mut totals = QualityTotals::default();
        for (predicted, actual, n) in
            [("fraud", "fraud", 8), ("fraud", "legit", 2), ("legit", "fraud", 4), ("legit", "legit", 86)]
        {
            totals.confusion.insert((predicted.into(), actual.into()), n);
        }
        let classification = QualityReport::new(100, &totals).classification.unwrap();
        assert!((classification.accuracy - 0.94).abs() < 1e-12);
        let fraud = &classification.labels["fraud"];
        assert_eq!((fraud.precision, fraud.recall, fraud.support), (Some(0.8), Some(8.0 / 12.0), 12));
    }
}
