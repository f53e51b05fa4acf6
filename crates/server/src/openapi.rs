//! The OpenAPI document, generated from the handlers' annotations and the wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{ledger, models, predictions, system};

#[derive(OpenApi)]
#[openapi(
    info(title = "ml-audit", description = "A defensible, queryable audit trail of ML predictions."),
    paths(
        predictions::record_prediction, predictions::record_batch, predictions::attach_explanation,
        predictions::list_predictions, predictions::get_prediction, predictions::list_explanations,
        models::list_models, models::get_model, system::healthz, system::metrics,
        ledger::latest_checkpoint, ledger::create_checkpoint, ledger::public_key, ledger::inclusion_proof,
        ledger::consistency_proof,
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn api_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
