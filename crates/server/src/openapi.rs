//! The OpenAPI document, generated from the handlers' annotations and the wire types.
//!
//! The answers every protected route can give (400 for its query, 401, 403, 503, and 413 where
//! it takes a body) are added here for all of them at once, so no route's document can forget
//! one; each handler's annotation lists only its own (404, 409, 422, ...).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::routes::{access, exports, ledger, lifecycle, models, outcomes, predictions, subjects, system};
use crate::wire::request_schemas;

#[derive(OpenApi)]
#[openapi(
    info(title = "ml-audit", description = "A defensible, queryable audit trail of ML predictions."),
    paths(
        predictions::record_prediction, predictions::record_batch, predictions::attach_explanation,
        predictions::list_predictions, predictions::get_prediction, predictions::list_explanations,
        models::list_models, models::get_model, system::healthz, system::readyz, system::metrics,
        ledger::latest_checkpoint, ledger::create_checkpoint, ledger::public_key, ledger::inclusion_proof,
        ledger::consistency_proof, lifecycle::erase, lifecycle::list_erasures, lifecycle::create_hold,
        lifecycle::list_holds, lifecycle::release_hold, outcomes::record_outcome, outcomes::record_outcome_batch,
        outcomes::list_outcomes, outcomes::record_review, outcomes::list_reviews, outcomes::model_quality,
        access::access_log, access::prediction_access, subjects::subject_report, exports::export_predictions,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth, &CommonAnswers),
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

struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                add_common_answers(operation);
            }
        }
    }
}

fn add_common_answers(operation: &mut Operation) {
    let protected = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let mut answers = vec![(
        "503",
        "The database is unavailable (`unavailable`) or out of space (`storage_full`), or the writers' queue is full (`overloaded`); nothing was stored. `Retry-After` says when to try again",
    )];
    if protected {
        answers.push(("401", "No `Authorization: Bearer <key>` header, or an unknown or revoked key"));
        answers.push((
            "403",
            "The key's scope does not allow this route (POSTs need ingest, GETs read; admin may do both)",
        ));
        answers.push((
            "400",
            if has_body {
                "The body is not UTF-8 or not JSON, or a query parameter is unknown, repeated or has a bad value; `field` names the parameter"
            } else {
                "A query parameter is unknown, repeated or has a bad value; `field` names it"
            },
        ));
    }
    if has_body {
        answers.push(("413", "The body exceeds the size limit (default 10 MB) or nests deeper than the JSON depth limit (default 64 levels); nothing was stored"));
    }
    for (status, description) in answers {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            );
            if status == "503" {
                let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(seconds))
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                );
            }
            RefOr::T(response.build())
        });
    }
}

/// The document as served at `/openapi.json`: the generated one with the request bodies' schemas
/// (written out in `wire::request_schemas`).
pub fn api_document() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    let schemas = document["components"]["schemas"].as_object_mut().expect("the document has component schemas");
    schemas.extend(request_schemas().into_iter().map(|(name, schema)| (name.to_owned(), schema)));
    // Every route that reads a body needs one (an empty body is not JSON: 400).
    for item in document["paths"].as_object_mut().expect("the document has paths").values_mut() {
        for operation in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            if let Some(body) = operation.get_mut("requestBody") {
                body["required"] = true.into();
            }
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{ListQuery, NoQuery, QueryParams};

    /// Each operation documents exactly the query parameters its handler's `QueryParams` type
    /// takes (`NoQuery` unless listed here).
    #[test]
    fn every_operation_documents_exactly_the_parameters_it_takes() {
        let takes: [(&str, &str, &[&str]); 9] = [
            ("get", "/api/v1/predictions", ListQuery::NAMES),
            ("post", "/api/v1/predictions/batch", predictions::ResultsShown::NAMES),
            ("get", "/api/v1/predictions/{reference}/proof", ledger::ProofQuery::NAMES),
            ("get", "/api/v1/ledger/consistency", ledger::ConsistencyQuery::NAMES),
            ("get", "/api/v1/models/{id}/quality", crate::query::QualityQuery::NAMES),
            ("get", "/api/v1/access-log", crate::query::AccessQuery::NAMES),
            ("get", "/api/v1/predictions/{reference}/access", crate::query::PageQuery::NAMES),
            ("get", "/api/v1/subjects/report", crate::query::SubjectQuery::NAMES),
            ("get", "/api/v1/exports/predictions", crate::query::ExportQuery::NAMES),
        ];
        let document = api_document();
        let mut seen = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let mut documented: Vec<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                let mut taken = takes
                    .iter()
                    .find(|(m, p, _)| m == method && p == path)
                    .inspect(|_| seen += 1)
                    .map_or(NoQuery::NAMES, |(_, _, names)| names)
                    .to_vec();
                documented.sort_unstable();
                taken.sort_unstable();
                assert_eq!(documented, taken, "{method} {path}");
            }
        }
        assert_eq!(seen, takes.len(), "every operation listed here is in the document");
    }
}
