//! GraphQL errors carry `extensions.code`: for the API's own refusals the
//! REST problem's slug (`NOT_FOUND`, `INSUFFICIENT_SCOPE`, `INVALID_FIELD`,
//! …) with its `type`, `status` and details; for a document refused before
//! it runs, the code its [`Refusal`] names (`QUERY_TOO_DEEP`,
//! `QUERY_TOO_COMPLEX`, `TOO_MANY_DIRECTIVES`, `GRAPHQL_PARSE_FAILED`,
//! `GRAPHQL_VALIDATION_FAILED`); for an argument that does not fit its type,
//! `BAD_USER_INPUT`.

use std::{borrow::Cow, sync::Arc};

use async_graphql::{
    Context, ContextSelectionSet, ErrorExtensionValues, ObjectType, OutputType, Positioned, Response,
    ServerError, ServerResult, Value,
    parser::{self, types::Field},
    registry::Registry,
    resolver_utils::{ContainerType, resolve_container},
};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response as HttpResponse},
};

use super::{
    BODY_COST, DESCRIPTION_COST, MAX_COMPLEXITY, MAX_DEPTH, Sidecar,
    limits::{MAX_ALIAS_BYTES, MAX_ANSWER_BYTES, MAX_DIRECTIVES, MAX_NESTING, MAX_VARIABLE_ECHO, Refusal},
};
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

/// A refusal as GraphQL tells it: the code says which limit or rule, the
/// message what to do about it.
impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> Self {
        let (code, limit, error) = match refusal {
            Refusal::Brackets => (
                "QUERY_TOO_DEEP",
                Some(MAX_NESTING),
                ServerError::new(
                    format!("the query's brackets nest more than {MAX_NESTING} levels deep"),
                    None,
                ),
            ),
            Refusal::Parse(error @ parser::Error::Syntax { .. }) => {
                let message = match syntax_reason(&error.to_string()) {
                    Some(reason) => format!("the query does not parse: {reason}"),
                    None => String::from("the query does not parse"),
                };
                ("GRAPHQL_PARSE_FAILED", None, ServerError { message, ..ServerError::from(error) })
            }
            Refusal::Parse(parser::Error::RecursionLimitExceeded) | Refusal::TooDeep { at: None } => {
                ("QUERY_TOO_DEEP", Some(MAX_DEPTH), ServerError::new(too_deep(), None))
            }
            Refusal::TooDeep { at: Some(at) } => {
                ("QUERY_TOO_DEEP", Some(MAX_DEPTH), ServerError::new(too_deep(), Some(at)))
            }
            // Two anonymous operations, an operation or fragment defined
            // twice, no operation: what the spec's validation forbids.
            Refusal::Parse(other) => ("GRAPHQL_VALIDATION_FAILED", None, ServerError::from(other)),
            Refusal::TooManyDirectives { field, at } => (
                "TOO_MANY_DIRECTIVES",
                Some(MAX_DIRECTIVES),
                ServerError::new(
                    format!(
                        "The number of directives on the field `{field}` cannot be greater than `{MAX_DIRECTIVES}`"
                    ),
                    Some(at),
                ),
            ),
            Refusal::TooComplex => {
                let why = format!(
                    "the query costs more than {MAX_COMPLEXITY}, the budget for the work and the size of one answer \
                     (a unit is about a kilobyte): each field costs 1, a description {DESCRIPTION_COST}, an event's \
                     body or details {BODY_COST}, and a connection `first` (default 50) times its selection; ask for \
                     fewer fields, aliases or items"
                );
                ("QUERY_TOO_COMPLEX", Some(MAX_COMPLEXITY), ServerError::new(why, None))
            }
            Refusal::LongAlias { at } => (
                "ALIAS_TOO_LONG",
                Some(MAX_ALIAS_BYTES),
                ServerError::new(format!("an alias is longer than {MAX_ALIAS_BYTES} bytes"), Some(at)),
            ),
            Refusal::VariablesEchoed => (
                "QUERY_TOO_COMPLEX",
                Some(MAX_VARIABLE_ECHO),
                ServerError::new(
                    format!(
                        "the query's variables, as long as they are and as often as they are used, could fill more \
                         than {MAX_VARIABLE_ECHO} bytes of errors; use each variable once or send shorter values"
                    ),
                    None,
                ),
            ),
            Refusal::AnswerTooLarge => (
                "ANSWER_TOO_LARGE",
                Some(MAX_ANSWER_BYTES),
                ServerError::new(
                    format!(
                        "the answer passed {MAX_ANSWER_BYTES} bytes and was not finished; ask for fewer fields, \
                         aliases or items"
                    ),
                    None,
                ),
            ),
            Refusal::Invalid(error) => ("GRAPHQL_VALIDATION_FAILED", None, error),
        };
        let mut error = error;
        let ext = error.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
        if let Some(limit) = limit {
            ext.set("limit", i32::try_from(limit).unwrap_or(i32::MAX));
        }
        error
    }
}

fn too_deep() -> String {
    format!("the query is nested more than {MAX_DEPTH} levels deep")
}

/// The reason of a syntax error, without the line of the document the
/// parser quotes (the position is in `locations`; the line may hold a
/// secret). async-graphql-parser 7.2 keeps only pest's formatted text
/// (` --> 1:13`, the quoted line, a caret, then `  = expected selection`),
/// not pest's typed error, so the reason is read from that layout:
/// `syntax_errors_keep_only_their_reason` fails if an upgrade changes it.
fn syntax_reason(message: &str) -> Option<String> {
    let reason = message.lines().last()?.trim_start().strip_prefix("= ")?;
    Some(reason.trim().trim_end_matches('.').to_owned())
}

/// Gives the errors that come without a code theirs. Refusals before
/// execution carry theirs ([`Refusal`]), and so do the API's own (a
/// [`Problem`]'s); what is left is async-graphql's: choosing the operation
/// (no path: the request does not fit its document) and reading a field's
/// arguments (a path: the argument does not fit its type).
pub(crate) fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        if error.extensions.as_ref().is_some_and(|x| x.get("code").is_some()) {
            continue;
        }
        let code = if error.path.is_empty() { "GRAPHQL_VALIDATION_FAILED" } else { "BAD_USER_INPUT" };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    // The same error found twice (async-graphql reports some twice) is told once.
    response.errors.dedup_by(|a, b| a.message == b.message && a.locations == b.locations && a.path == b.path);
    response
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
/// other fields pay nothing for it (an extension's `resolve` hook would do
/// its work for every field of the answer).
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

    /// Pins the layout of the parser's syntax errors that [`syntax_reason`]
    /// reads: an upgrade of async-graphql-parser or pest that changes it
    /// fails here, not in front of a user.
    #[test]
    fn syntax_errors_keep_only_their_reason() {
        for (document, reason, column) in [
            ("{ clients { ", "expected selection", 13),
            ("", "expected executable_definition", 1),
            (
                "query($password: String = \"hunter2\") { me { kind } } }",
                "expected EOI or executable_definition",
                54,
            ),
        ] {
            let error = async_graphql::parser::parse_query(document).unwrap_err();
            assert!(matches!(error, parser::Error::Syntax { .. }), "{error:?}");
            assert_eq!(syntax_reason(&error.to_string()).as_deref(), Some(reason), "{error}");
            let error = ServerError::from(Refusal::Parse(error));
            assert_eq!(error.message, format!("the query does not parse: {reason}"));
            assert!(!error.message.contains("hunter2"));
            assert_eq!(error.locations.first().map(|p| (p.line, p.column)), Some((1, column)));
            assert_eq!(error.extensions.unwrap().get("code"), Some(&Value::from("GRAPHQL_PARSE_FAILED")));
        }
        assert_eq!(syntax_reason("a layout this code does not know"), None);
    }
}
