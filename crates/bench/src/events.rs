//! Realistic ~1 KB prediction events: about 20 features with personal data and a nested
//! object, an output, an actor from a few thousand users across a few tenants, SHAP-style
//! explanations on some. Deterministic for a given seed, so runs compare.

use serde_json::{Value, json};

/// A small xorshift generator: reproducible and dependency-free; statistical quality is
/// irrelevant here.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
pub const MODELS: [&str; 2] = ["credit_risk", "fraud_detector"];
/// The model versions of the events (one in seven is the newer).
pub const VERSIONS: [&str; 2] = ["2.0.3", "2.1.0"];
/// How many users (actor ids `0` to `USERS - 1`) the events come from; user `u` is in tenant
/// `TENANTS[u % 4]`.
pub const USERS: usize = 3000;
/// The `decision_outcome`s of the events.
pub const OUTCOMES: [&str; 2] = ["approved", "flagged"];
const COUNTRIES: [&str; 6] = ["DE", "FR", "US", "GB", "NL", "ES"];

/// The ledger leaves that recording events `0..count` adds: one per prediction, and one per
/// inline explanation (events whose `n` is a multiple of 4, as [`event`] makes them).
pub fn leaves(count: usize) -> u64 {
    (count + count.div_ceil(4)) as u64
}

/// One event as a client would send it; `n` makes its prediction_id unique.
pub fn event(rng: &mut Rng, n: u64) -> Value {
    let user = rng.below(USERS as u64);
    let score = rng.unit();
    let amount = (rng.unit() * 5000.0 * 100.0).round() / 100.0;
    let mut body = json!({
        "model_name": if n.is_multiple_of(3) { MODELS[0] } else { MODELS[1] },
        "model_version": if n.is_multiple_of(7) { VERSIONS[1] } else { VERSIONS[0] },
        "framework": "xgboost",
        "prediction_id": format!("bench-{n:012}"),
        "features": {
            "amount": amount, "currency": "EUR", "merchant_category": 5411 + rng.below(40),
            "country": COUNTRIES[rng.below(6) as usize], "age": 18 + rng.below(70),
            "income": 20_000 + rng.below(180_000), "account_age_days": rng.below(4000),
            "transactions_last_24h": rng.below(30), "avg_ticket": (rng.unit() * 300.0).round(),
            "device_type": if rng.below(2) == 0 { "mobile" } else { "desktop" },
            "is_new_device": rng.below(5) == 0, "velocity_score": rng.unit(),
            "email": format!("customer{user}@example.com"),
            "phone": format!("+49 30 {:07}", rng.below(10_000_000)),
            "ip_address": format!("203.0.113.{}", rng.below(255)),
            "note": format!("called support on day {} about card", rng.below(30)),
            "billing": {"city": "Berlin", "postcode": format!("{:05}", rng.below(99_999)), "street_address": "Hauptstr. 1"},
            "recent_merchants": [rng.below(9999), rng.below(9999), rng.below(9999)],
            "card_bin": format!("{:06}", 400_000 + rng.below(99_999)),
            "session_minutes": rng.below(120),
        },
        "output": {"score": score, "label": if score > 0.8 { "fraud" } else { "ok" }},
        "decision_outcome": if score > 0.8 { "flagged" } else { "approved" },
        "confidence": score,
        "status": if n.is_multiple_of(97) { "failed" } else { "success" },
        "actor": {"actor_type": "user", "actor_id": user.to_string(),
                  "tenant_id": TENANTS[(user % 4) as usize], "ip_address": "198.51.100.7",
                  "user_agent": "checkout-service/4.2"},
        "environment": "prod",
        "trace_id": format!("{:032x}", rng.next() as u128 * rng.next() as u128),
        "latency_ms": (rng.unit() * 40.0 * 10.0).round() / 10.0,
        "metadata": {"region": "eu-central-1", "request_source": "api"},
    });
    if n.is_multiple_of(4) {
        body["explanation"] = json!({
            "method": "shap", "method_version": "0.46",
            "payload": {"amount": rng.unit() - 0.5, "velocity_score": rng.unit() - 0.5,
                        "account_age_days": rng.unit() - 0.5, "is_new_device": rng.unit() - 0.5},
            "summary_text": "Amount and velocity drove the score.",
        });
    }
    body
}
