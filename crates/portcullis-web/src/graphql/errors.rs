//! GraphQL errors carry `extensions.code`: for the API's own refusals the
//! REST problem's slug (`NOT_FOUND`, `INSUFFICIENT_SCOPE`, `INVALID_FIELD`,
//! …) with its `type`, `status` and details; for what GraphQL itself
//! refuses, `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX`,
//! `GRAPHQL_VALIDATION_FAILED` or `BAD_USER_INPUT`.

use std::{borrow::Cow, sync::Arc};

use async_graphql::{
    Context, ContextSelectionSet, ErrorExtensionValues, ObjectType, OutputType, Positioned, Response,
    ServerError, ServerResult, Value,
    parser::types::Field,
    registry::Registry,
    resolver_utils::{ContainerType, resolve_container},
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};

use super::{MAX_COMPLEXITY, MAX_DEPTH, Sidecar};
use crate::api::Problem;

/// `urn:portcullis:problem:insufficient-scope` → `INSUFFICIENT_SCOPE`.
fn code(kind: &str) -> String {
    kind.rsplit(':').next().unwrap_or(kind).replace('-', "_").to_ascii_uppercase()
}

/// A REST field name as GraphQL spells it: `client_ids[3]` → `clientIds[3]`.
pub(crate) fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn extensions(problem: &Problem) -> ErrorExtensionValues {
    let d = problem.details();
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code(&d.kind));
    ext.set("type", d.kind.as_str());
    ext.set("status", i32::from(d.status));
    if let Some(field) = &d.field {
        ext.set("field", camel(field));
    }
    if let Some(permission) = &d.required_permission {
        ext.set("requiredPermission", permission.as_str());
    }
    if let Some(missing) = &d.missing_permissions {
        ext.set("missingPermissions", Value::List(missing.iter().map(|p| Value::from(p.as_str())).collect()));
    }
    if let Some(in_use_by) = &d.in_use_by {
        ext.set("inUseBy", Value::from_json(in_use_by.clone()).unwrap_or(Value::Null));
    }
    ext
}

/// The problem's detail, its field named as GraphQL names it.
fn message(problem: &Problem) -> String {
    let d = problem.details();
    match &d.field {
        Some(field) => match d.detail.strip_prefix(field.as_str()) {
            Some(rest) => format!("{}{rest}", camel(field)),
            None => d.detail.clone(),
        },
        None => d.detail.clone(),
    }
}

impl From<Problem> for async_graphql::Error {
    fn from(problem: Problem) -> Self {
        let mut error = async_graphql::Error::new(message(&problem));
        error.extensions = Some(extensions(&problem));
        error
    }
}

/// `?` for a service or adapter result inside a resolver: the error as the
/// REST API would describe it, in GraphQL's shape.
pub(crate) trait OrGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<Problem>> OrGraphql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().into())
    }
}

/// Gives every error of an executed request its `code`: GraphQL's own
/// (parsing, validation, limits, argument coercion) come without one.
pub(crate) fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        if error.extensions.as_ref().is_some_and(|x| x.get("code").is_some()) {
            continue;
        }
        // The parser's errors quote the whole line of the document: only
        // their reason is kept (the position is in `locations`).
        let parse_reason = error
            .message
            .starts_with(" --> ")
            .then(|| error.message.rsplit("= ").next().unwrap_or("").trim().trim_end_matches('.').to_owned());
        let too_deep_to_parse = error.message.starts_with("recursion limit exceeded")
            || parse_reason
                .as_deref()
                .is_some_and(|r| r.contains("stack limit") || r.contains("recursion limit"));
        let (code, message) = if error.message == "Query is nested too deep."
            || error.message.starts_with("The recursion depth of the query")
            || too_deep_to_parse
        {
            ("QUERY_TOO_DEEP", Some(format!("the query is nested more than {MAX_DEPTH} levels deep")))
        } else if error.message == "Query is too complex." {
            let why = format!(
                "the query costs more than {MAX_COMPLEXITY}: each field costs 1, and a connection costs `first` \
                 (default 50) times its selection; ask for fewer fields, aliases or items"
            );
            ("QUERY_TOO_COMPLEX", Some(why))
        } else if error.message.starts_with("The number of directives") {
            ("TOO_MANY_DIRECTIVES", None)
        } else if let Some(reason) = parse_reason {
            ("GRAPHQL_PARSE_FAILED", Some(format!("the query does not parse: {reason}")))
        } else if error.path.is_empty() {
            // Refused before execution: the document does not parse or does
            // not fit the schema.
            ("GRAPHQL_VALIDATION_FAILED", None)
        } else {
            // A resolver's arguments that do not fit their types.
            ("BAD_USER_INPUT", None)
        };
        if let Some(message) = message {
            error.message = message;
        }
        let ext = error.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
        if code.starts_with("QUERY_TOO") {
            let limit = if code == "QUERY_TOO_DEEP" { MAX_DEPTH } else { MAX_COMPLEXITY };
            ext.set("limit", i32::try_from(limit).unwrap_or(i32::MAX));
        }
    }
    // The same error found twice (async-graphql reports some twice) is told once.
    response.errors.dedup_by(|a, b| a.message == b.message && a.locations == b.locations && a.path == b.path);
    response
}

/// A document whose brackets nest past `limit`, refused before parsing:
/// answered as an executed request refused for its depth would be.
pub(crate) fn too_deep(limit: usize) -> Response {
    let mut error =
        ServerError::new(format!("the query's brackets nest more than {limit} levels deep"), None);
    let ext = error.extensions.get_or_insert_with(Default::default);
    ext.set("code", "QUERY_TOO_DEEP");
    ext.set("limit", i32::try_from(limit).unwrap_or(i32::MAX));
    Response::from_errors(vec![error])
}

/// A JSON answer, never cached: admin answers carry secrets and private data.
pub(crate) fn json(status: StatusCode, body: String) -> HttpResponse {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A request refused before GraphQL sees it (no credentials, a body that
/// is not a GraphQL request): the problem's status, in GraphQL's shape.
pub(crate) fn http_error(problem: Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.details().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let challenge = problem.challenge().and_then(|c| HeaderValue::from_str(c).ok());
    let error =
        ServerError { extensions: Some(extensions(&problem)), ..ServerError::new(message(&problem), None) };
    let mut response = json(status, serde_json::json!({ "errors": [error] }).to_string());
    if let Some(challenge) = challenge {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// An object whose nullable fields answer `null` for an error and keep
/// their siblings, as the GraphQL spec says ("Handling Field Errors");
/// async-graphql 7.2 would leave the field out of `data` instead. The
/// error (of the resolver, of its arguments or of a non-null field below)
/// is kept in the request's [`Sidecar`] and added to the answer.
///
/// It wraps only the objects with a nullable field that can fail (the
/// roots, `Client`, `Me`) and is, in the schema, the object it wraps; the
/// other fields pay nothing (an extension's `resolve` hook would run for
/// every field of the answer).
pub struct NullOnError<T>(pub T);

impl<T: ObjectType> OutputType for NullOnError<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_container(ctx, self).await
    }
}

impl<T: ObjectType> ContainerType for NullOnError<T> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        match self.0.resolve_field(ctx).await {
            Err(error) if nullable::<T>(ctx) => {
                let Some(sidecar) = ctx.data_opt::<Arc<Sidecar>>() else { return Err(error) };
                // Built only for an error: most fields have none.
                let error = if error.path.is_empty() { ctx.set_error_path(error) } else { error };
                sidecar.field_errors.lock().unwrap_or_else(|e| e.into_inner()).push(error);
                Ok(Some(Value::Null))
            }
            result => result,
        }
    }
}

impl<T: ObjectType> ObjectType for NullOnError<T> {}

/// Whether the field `ctx` resolves on `T` may be null.
fn nullable<T: ObjectType>(ctx: &Context<'_>) -> bool {
    ctx.schema_env
        .registry
        .types
        .get(T::type_name().as_ref())
        .and_then(|ty| ty.field_by_name(ctx.item.node.name.node.as_str()))
        .is_some_and(|field| !field.ty.ends_with('!'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_fields_as_graphql_spells_them() {
        assert_eq!(code("urn:portcullis:problem:insufficient-scope"), "INSUFFICIENT_SCOPE");
        assert_eq!(code("urn:portcullis:problem:not-found"), "NOT_FOUND");
        assert_eq!(camel("access_token_ttl_seconds"), "accessTokenTtlSeconds");
        assert_eq!(camel("client_ids[3]"), "clientIds[3]");
        assert_eq!(camel("name"), "name");
        let problem =
            Problem::invalid_field("access_token_ttl_seconds", "access_token_ttl_seconds: too long");
        let error = async_graphql::Error::from(problem);
        assert_eq!(error.message, "accessTokenTtlSeconds: too long");
        let ext = error.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("INVALID_FIELD")));
        assert_eq!(ext.get("field"), Some(&Value::from("accessTokenTtlSeconds")));
        assert_eq!(ext.get("status"), Some(&Value::from(400)));
    }
}
