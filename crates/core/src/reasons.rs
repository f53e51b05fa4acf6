//! The principal reasons of a decision, from its explanation: the features whose attributions
//! weigh most, with the direction they pushed — what a data subject's access request (GDPR
//! Art. 15 and 22) and a US adverse-action notice (at most four principal reasons that reflect
//! the factors actually scored) need.

use serde_json::Value;

/// How many reasons a report gives.
pub const PRINCIPAL_REASONS: usize = 4;

/// Which way a feature pushed the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Increased,
    Decreased,
}

crate::model::text_enum_impls!(Direction { Increased => "increased", Decreased => "decreased" });

/// One feature's part in a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub feature: String,
    pub attribution: f64,
    pub direction: Direction,
}

/// The feature attributions of an explanation payload: a flat object of numbers, or such an
/// object under `values`, `attributions`, `shap_values`, `feature_importances` or
/// `contributions`. `None` when the payload holds none.
pub fn attributions(payload: &Value) -> Option<Vec<(String, f64)>> {
    fn numeric(object: &serde_json::Map<String, Value>) -> Vec<(String, f64)> {
        object.iter().filter_map(|(k, v)| v.as_f64().filter(|n| n.is_finite()).map(|n| (k.clone(), n))).collect()
    }
    let object = payload.as_object()?;
    for key in ["values", "attributions", "shap_values", "feature_importances", "contributions"] {
        if let Some(Value::Object(inner)) = object.get(key) {
            let found = numeric(inner);
            if !found.is_empty() {
                return Some(found);
            }
        }
    }
    let found = numeric(object);
    // A payload whose values are mostly not numbers is not an attribution map.
    (found.len() * 2 > object.len()).then_some(found)
}

/// Sorts attributions by magnitude, largest first (ties by name, so the order is stable).
pub fn by_magnitude(mut items: Vec<(String, f64)>) -> Vec<(String, f64)> {
    items.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
    items
}

/// The [`PRINCIPAL_REASONS`] largest attributions of `payload` by absolute value, with their
/// direction; none for a payload without attributions, and none for a zero attribution (it
/// did not weigh).
pub fn principal_reasons(payload: &Value) -> Vec<Reason> {
    let Some(found) = attributions(payload) else { return Vec::new() };
    by_magnitude(found)
        .into_iter()
        .filter(|(_, value)| *value != 0.0)
        .take(PRINCIPAL_REASONS)
        .map(|(feature, attribution)| Reason {
            direction: if attribution > 0.0 { Direction::Increased } else { Direction::Decreased },
            feature,
            attribution,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_four_largest_by_magnitude_with_their_direction() {
        let payload = json!({"shap_values": {"income": -0.4, "age": 0.1, "debt": 0.9, "late_payments": 0.5,
            "tenure": -0.05, "zero": 0.0}});
        let reasons = principal_reasons(&payload);
        let named: Vec<(&str, Direction)> = reasons.iter().map(|r| (r.feature.as_str(), r.direction)).collect();
        assert_eq!(
            named,
            vec![
                ("debt", Direction::Increased),
                ("late_payments", Direction::Increased),
                ("income", Direction::Decreased),
                ("age", Direction::Increased),
            ]
        );
        assert_eq!(reasons[2].attribution, -0.4);
    }

    #[test]
    fn attributions_are_found_flat_or_nested() {
        let flat = json!({"income": -0.4, "age": 0.1, "note": "x"});
        assert_eq!(attributions(&flat).unwrap().len(), 2);
        let nested = json!({"base_value": 0.2, "values": {"a": 1.0}});
        assert_eq!(attributions(&nested), Some(vec![("a".into(), 1.0)]));
        assert_eq!(attributions(&json!({"codes": ["R1", "R2"]})), None);
        let sorted = by_magnitude(vec![("a".into(), 0.1), ("b".into(), -0.5), ("c".into(), 0.3)]);
        assert_eq!(sorted.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
    }

    #[test]
    fn no_attributions_no_reasons() {
        assert!(principal_reasons(&json!({"text": "because", "model": "x"})).is_empty());
        assert!(principal_reasons(&json!([1, 2])).is_empty());
        assert_eq!(principal_reasons(&json!({"a": 0.0, "b": 2})).len(), 1, "a zero attribution did not weigh");
    }
}
