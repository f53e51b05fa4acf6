//! Query strings, read strictly. Every `/api/v1` route declares the parameters it takes as a
//! type implementing [`QueryParams`] ([`NoQuery`] for none) and receives them through
//! `Authorized<Scope, Q>` (`auth.rs`), whose default is `NoQuery`: a route that declares nothing
//! rejects every parameter, so no handler can forget. An unknown or repeated parameter, or a
//! value that is not UTF-8 once percent-decoded, is a 400 `invalid_parameter` naming it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ml_audit_core::FieldError;
use ml_audit_core::query::{PageRequest, PredictionFilter, parse_list_query};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// The parameters of one route, parsed from the query string.
pub trait QueryParams: Sized {
    /// Every parameter the route takes; any other name is rejected before [`Self::parse`].
    const NAMES: &'static [&'static str];

    /// Reads the pairs, each named in `NAMES` and given at most once, values percent-decoded.
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError>;
}

/// A route's declared parameters, extracted from the request (see the module documentation).
pub struct StrictQuery<Q>(pub Q);

impl<Q: QueryParams, S: Send + Sync> FromRequestParts<S> for StrictQuery<Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs = query_pairs(parts.uri.query().map(str::to_owned))?;
        for (at, (name, _)) in pairs.iter().enumerate() {
            if !Q::NAMES.contains(&name.as_str()) {
                let takes = match Q::NAMES {
                    [] => "this route takes none".to_owned(),
                    names => format!("this route takes {}", names.join(", ")),
                };
                return Err(ApiError::bad_query(FieldError::new(
                    name.as_str(),
                    format!("is not a known query parameter ({takes})"),
                )));
            }
            if pairs[..at].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::bad_query(FieldError::new(name.as_str(), "is given more than once")));
            }
        }
        Q::parse(pairs).map(StrictQuery)
    }
}

/// For routes that take no parameter.
pub struct NoQuery;

impl QueryParams for NoQuery {
    const NAMES: &'static [&'static str] = &[];

    fn parse(_pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        Ok(NoQuery)
    }
}

/// `GET /api/v1/predictions`: filters and paging, parsed by the core.
pub struct ListQuery {
    pub filter: PredictionFilter,
    pub page: PageRequest,
}

/// `&[$before…, every list filter, $after…]`: the list's filters, once for every route that
/// takes them.
macro_rules! with_list_filters {
    ($($before:literal),* ; $($after:literal),*) => {
        &[$($before,)* "model_name", "model_version", "actor_type", "actor_id", "tenant_id", "time_from", "time_to", "decision_outcome", "environment", "has_explanation", "status", "min_confidence", "max_confidence", "trace_id", "subject", "has_outcome", "outcome_label", "reviewed", "overridden", "final_decision", "review_state" $(, $after)*]
    };
}

impl QueryParams for ListQuery {
    const NAMES: &'static [&'static str] = with_list_filters!(; "limit", "cursor");

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let (filter, page) =
            parse_list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(ApiError::bad_query)?;
        Ok(ListQuery { filter, page })
    }
}

/// `GET /api/v1/exports/predictions`: the list's filters, read by the same core parser as the
/// list's (so a bad filter is the same 400), and the format. No paging: an export is every
/// match, so `limit` and `cursor` are not known here (400 naming them).
pub struct ExportQuery {
    pub filter: PredictionFilter,
    pub format: crate::export::ExportFormat,
}

impl QueryParams for ExportQuery {
    const NAMES: &'static [&'static str] = with_list_filters!("format";);

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut format = crate::export::ExportFormat::Jsonl;
        let mut filters = Vec::with_capacity(pairs.len());
        for (name, value) in &pairs {
            match name.as_str() {
                "format" => format = crate::export::ExportFormat::parse(value).map_err(ApiError::bad_query)?,
                _ => filters.push((name.as_str(), value.as_str())),
            }
        }
        let (filter, _) = parse_list_query(filters).map_err(ApiError::bad_query)?;
        Ok(ExportQuery { filter, format })
    }
}

/// `GET /api/v1/models/{id}/quality`: the window and tenant, read (and checked) as the list reads
/// the same parameters.
pub struct QualityQuery(pub ml_audit_storage::QualityWindow);

impl QueryParams for QualityQuery {
    const NAMES: &'static [&'static str] = &["time_from", "time_to", "tenant_id"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let (filter, _) =
            parse_list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(ApiError::bad_query)?;
        Ok(QualityQuery(ml_audit_storage::QualityWindow {
            from: filter.time_from,
            to: filter.time_to,
            tenant_id: filter.tenant_id,
        }))
    }
}

/// `GET /api/v1/access-log`: its filters and paging, parsed by the core.
pub struct AccessQuery {
    pub filter: ml_audit_core::access::AccessFilter,
    pub page: PageRequest,
}

impl QueryParams for AccessQuery {
    const NAMES: &'static [&'static str] = &["key_id", "prediction", "time_from", "time_to", "limit", "cursor"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let (filter, page) =
            ml_audit_core::access::parse_access_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(ApiError::bad_query)?;
        Ok(AccessQuery { filter, page })
    }
}

/// `GET /api/v1/predictions/{ref}/access`: paging only.
pub struct PageQuery(pub PageRequest);

impl QueryParams for PageQuery {
    const NAMES: &'static [&'static str] = &["limit", "cursor"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let (_, page) = ml_audit_core::access::parse_access_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(ApiError::bad_query)?;
        Ok(PageQuery(page))
    }
}

/// `GET /api/v1/subjects/report`: exactly one of `subject` (a raw identifier) or `actor_id`.
pub enum SubjectQuery {
    Subject(String),
    ActorId(String),
}

impl QueryParams for SubjectQuery {
    const NAMES: &'static [&'static str] = &["subject", "actor_id"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut pairs = pairs.into_iter();
        let (Some((name, value)), None) = (pairs.next(), pairs.next()) else {
            return Err(ApiError::bad_query(FieldError::new("subject", "give exactly one of subject or actor_id")));
        };
        let value = ml_audit_core::event::check_text(&name, value, ml_audit_core::event::MAX_SHORT_TEXT)
            .map_err(ApiError::bad_query)?;
        if value.trim().is_empty() {
            return Err(ApiError::bad_query(FieldError::new(name.as_str(), "must not be blank")));
        }
        Ok(if name == "subject" { SubjectQuery::Subject(value) } else { SubjectQuery::ActorId(value) })
    }
}

/// A whole number parameter, from 0 to `u64::MAX`.
pub fn whole_number(name: &str, value: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| ApiError::bad_query(FieldError::new(name, "must be a whole number")))
}

/// Splits and decodes a query string strictly: a value whose percent-encoding is not UTF-8 is an
/// error naming its parameter, never silently turned into something else.
pub fn query_pairs(query: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |part: &str| percent_decode_str(&part.replace('+', " ")).decode_utf8().map(|text| text.into_owned());
    let query = query.unwrap_or_default();
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).map_err(|_| ApiError::BadRequest {
            code: "invalid_parameter",
            message: "a query parameter name is not valid UTF-8 once percent-decoded".into(),
            field: None,
        })?;
        let value = decode(value).map_err(|_| ApiError::BadRequest {
            code: "invalid_parameter",
            message: format!("query parameter {name} is not valid UTF-8 once percent-decoded"),
            field: Some(name.clone()),
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the server lets through are exactly those the core's list parser knows.
    #[test]
    fn the_list_query_names_are_the_cores() {
        for name in ListQuery::NAMES {
            let error = parse_list_query([(*name, "\0")]).err();
            assert!(error.is_none_or(|e| !e.message.contains("not a known")), "{name} is unknown to the core");
        }
        assert!(parse_list_query([("zz_unknown", "1")]).is_err());
    }

    /// An export takes exactly the list's filters and its format: never its paging.
    #[test]
    fn the_export_query_names_are_the_list_filters_and_format() {
        let mut filters: Vec<&str> =
            ListQuery::NAMES.iter().copied().filter(|name| !["limit", "cursor"].contains(name)).collect();
        filters.insert(0, "format");
        assert_eq!(ExportQuery::NAMES, filters.as_slice());
    }
}
