//! `POST /graphql`: the admin API as GraphQL. Every field and mutation is
//! a thin adapter over the same service function as its REST twin, needs
//! the same permission, and reports refusals in the REST problem's words
//! (`extensions.code`). Depth and cost are limited before anything runs
//! ([`limits`]).

pub(crate) mod errors;
pub(crate) mod limits;

pub use limits::{MAX_ALIAS_BYTES, MAX_ANSWER_BYTES, MAX_ERRORS, MAX_VARIABLE_ECHO};
mod mutation;
mod query;
pub(crate) mod text;
mod types;

use std::sync::{Arc, Mutex};

use async_graphql::{Context, EmptySubscription, Schema, ServerError, Variables};
use axum::{extract::State, http::StatusCode, response::Response};
use portcullis_service::{MAX_PAGE_SIZE, Service, ServiceError};

use crate::{redact, shown::ShownOnce};
use serde::Deserialize;

use crate::{
    AppState,
    api::{Caller, Problem, json::ApiJson, problem::path_id},
    recording::RecordedResponse,
};

pub type PortcullisSchema =
    Schema<errors::NullOnError<query::Query>, errors::NullOnError<mutation::Mutation>, EmptySubscription>;

/// How deep a query may nest. Ours need at most 6; the standard
/// introspection query (GraphiQL's, graphql-core's) needs 13.
pub const MAX_DEPTH: usize = 15;

/// What a query may cost: each field 1, a connection `first` times its
/// selection. A page of 200 clients with a dozen fields fits; 200 clients
/// with 200 events each does not.
///
/// The cost is also the answer's size budget: a unit is about a kilobyte of
/// answer at most, and a field that can answer more costs what it can
/// answer ([`DESCRIPTION_COST`], [`PATH_COST`], [`USER_AGENT_COST`],
/// [`BODY_COST`]), so no answer that fits the cost passes some 5 MB. A page
/// of 200 events with their bodies does not fit (12,800); 75 do.
pub const MAX_COMPLEXITY: usize = 5_000;

/// What a root field that reads the store costs beside its selection: each
/// aliased one is its own query, and a few thousand of them in one request
/// (cheap by their fields) queued every request behind them for the
/// store's connections. At most 100 fit in one document.
pub const STORE_READ_COST: usize = 50;

/// A description: up to 2,000 characters, 8 KiB in UTF-8.
pub const DESCRIPTION_COST: usize = 8;

/// An event's path: events keep 2 KiB of it.
pub const PATH_COST: usize = 2;

/// An event's user agent: events keep 512 characters of it.
pub const USER_AGENT_COST: usize = 2;

/// An event's request or response body (16 KiB kept), or a change's details.
pub const BODY_COST: usize = 16;

/// The schema; built once per server (it holds no data: the caller and the
/// service travel with each request).
pub fn schema() -> PortcullisSchema {
    let (query, mutation) = (errors::NullOnError(query::Query), errors::NullOnError(mutation::Mutation));
    // The limits are the extension's, not `limit_depth` and friends: those
    // refuse with English words only, and the code would be guessed from them.
    Schema::build(query, mutation, EmptySubscription).extension(limits::Limits).finish()
}

/// The schema in SDL, as committed in `docs/schema.graphql`.
pub fn sdl() -> String {
    schema().sdl()
}

/// A GraphQL-over-HTTP request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlRequest {
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    /// Accepted and ignored (persisted queries are not supported).
    #[serde(default)]
    #[allow(dead_code)]
    extensions: Option<serde_json::Value>,
}

/// What a request's resolvers leave beside the answer.
#[derive(Default)]
pub(crate) struct Sidecar {
    /// Credentials this request handed out: kept out of its stored event.
    issued: Mutex<Vec<String>>,
    /// Errors of nullable fields, each answered as `null`.
    field_errors: Mutex<Vec<ServerError>>,
}

/// Notes a credential the answer holds (a client secret, an access token,
/// a personal access token, a generated password).
pub(crate) fn issued(ctx: &Context<'_>, credential: &str) {
    if let Ok(sidecar) = ctx.data::<Arc<Sidecar>>() {
        sidecar.issued.lock().unwrap_or_else(|e| e.into_inner()).push(credential.to_owned());
    }
}

/// A credential a payload shows (a client secret, a personal access token,
/// a generated password): noted as issued, so that the request's event
/// keeps it out, and shown, once. The one place a GraphQL answer exposes
/// one (see [`crate::shown`]).
pub(crate) fn shown<'a>(ctx: &Context<'_>, credential: &'a impl ShownOnce) -> &'a str {
    let text = credential.text();
    issued(ctx, text);
    text
}

/// An id argument, or `INVALID_FIELD` naming the argument.
pub(crate) fn parse_id<T: std::str::FromStr>(
    argument: &'static str,
    raw: &async_graphql::ID,
) -> async_graphql::Result<T> {
    Ok(path_id(argument, raw)?)
}

/// A page's error: a cursor this server did not hand out is the `after`
/// argument's fault.
pub(crate) fn page_error(e: ServiceError) -> async_graphql::Error {
    match e {
        ServiceError::InvalidCursor => {
            Problem::invalid_field("after", "after: not a cursor this server handed out").into()
        }
        other => Problem::from(other).into(),
    }
}

pub(crate) fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    ctx.data::<Caller>()
}

pub(crate) fn service<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Service> {
    ctx.data::<Service>()
}

/// The caller, if its scope holds `permission`; else `INSUFFICIENT_SCOPE`.
pub(crate) fn require<'a>(
    ctx: &Context<'a>,
    operation: portcullis_service::Operation,
) -> async_graphql::Result<&'a Caller> {
    let caller = caller(ctx)?;
    caller.may(operation)?;
    Ok(caller)
}

/// A connection's `first`: 1–200, default 50.
pub(crate) fn page_limit(first: Option<i32>) -> async_graphql::Result<u32> {
    match first {
        None => Ok(portcullis_service::DEFAULT_PAGE_SIZE),
        Some(n) => u32::try_from(n).ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
            Problem::invalid_field("first", format!("first must be between 1 and {MAX_PAGE_SIZE}")).into()
        }),
    }
}

/// What one page of a connection may multiply its selection's cost by:
/// the page size the service would serve.
pub(crate) fn page_size(first: Option<i32>) -> usize {
    let size = portcullis_service::page_size(first.map(|n| u32::try_from(n).unwrap_or(0)));
    usize::try_from(size).unwrap_or(usize::MAX)
}

pub async fn execute(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    body: Result<ApiJson<GraphqlRequest>, Problem>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(problem) => return errors::http_error(problem),
    };
    let ApiJson(body) = match body {
        Ok(body) => body,
        Err(problem) => return errors::http_error(problem),
    };
    let sidecar = Arc::new(Sidecar::default());
    let variables = match body.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => Variables::from_json(v),
        Some(_) => {
            return errors::http_error(Problem::invalid_field(
                "variables",
                "variables must be a JSON object",
            ));
        }
    };
    let mut request = async_graphql::Request::new(body.query)
        .variables(variables)
        .data(caller)
        .data(state.service.clone())
        .data(sidecar.clone());
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    let response = state.graphql.execute(request).await;
    answer(&state, response, &sidecar)
}

/// The HTTP answer to a request GraphQL took: `200`, every error with its
/// code, and, when requests are recorded, the form the event keeps (without
/// what the request issued, under whichever alias it was asked for).
fn answer(state: &AppState, mut response: async_graphql::Response, sidecar: &Sidecar) -> Response {
    response.errors.append(&mut sidecar.field_errors.lock().unwrap_or_else(|e| e.into_inner()));
    response.errors.truncate(limits::MAX_ERRORS);
    let response = errors::with_codes(response);
    let body = serde_json::to_string(&response).unwrap_or_else(|_| String::from(r#"{"errors":[]}"#));
    let recorded = state.record_events.then(|| {
        let issued = sidecar.issued.lock().unwrap_or_else(|e| e.into_inner());
        redact::graphql_response(body.as_bytes(), &issued).unwrap_or_default()
    });
    let mut http = errors::json(StatusCode::OK, body);
    if let Some(recorded) = recorded {
        http.extensions_mut().insert(RecordedResponse(recorded));
    }
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn code_of(query: &str) -> (String, String) {
        let response = errors::with_codes(schema().execute(query).await);
        let Some(error) = response.errors.first() else { return ("none".into(), String::new()) };
        let code =
            error.extensions.as_ref().and_then(|x| x.get("code")).map(|c| c.to_string()).unwrap_or_default();
        (code, error.message.clone())
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_beside_its_siblings() {
        // No caller: `roles` is refused by its resolver, `events` by its
        // argument (a DateTime is parsed while executing); `__typename` is
        // answered. `me`, not nullable, is left out (async-graphql 7.2).
        let query =
            r#"{ __typename roles { id } events(filter: {since: "yesterday"}) { edges { cursor } } }"#;
        let sidecar = Arc::new(Sidecar::default());
        let response = schema().execute(async_graphql::Request::new(query).data(sidecar.clone())).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        assert_eq!(data, serde_json::json!({"__typename": "Query", "roles": null, "events": null}));
        let errors = std::mem::take(&mut *sidecar.field_errors.lock().unwrap());
        let mut paths: Vec<String> = errors.iter().map(|e| serde_json::to_string(&e.path).unwrap()).collect();
        paths.sort();
        assert_eq!(paths, [r#"["events"]"#, r#"["roles"]"#]);
        let request =
            async_graphql::Request::new("{ me { kind } roles { id } }").data(Arc::new(Sidecar::default()));
        let response = schema().execute(request).await;
        assert_eq!(response.data.into_json().unwrap(), serde_json::json!({"roles": null}));
        assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    }

    #[tokio::test]
    async fn a_long_chain_of_fragments_is_refused_without_exhausting_the_stack() {
        let n = 1800;
        let mut query = String::from("{ ...F0 }");
        for i in 0..n {
            query.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        query.push_str(&format!(" fragment F{n} on Query {{ me {{ kind }} }}"));
        assert!(query.len() < 64 * 1024);
        let (code, message) = code_of(&query).await;
        assert!(
            code.contains("QUERY_TOO_DEEP") || code.contains("GRAPHQL_VALIDATION_FAILED"),
            "{code}: {message}"
        );
    }

    /// Each refusal before execution, and the code it is told with.
    #[tokio::test]
    async fn every_refusal_has_its_code() {
        let nested = |n: usize| {
            format!("{{ __type(name: \"Query\") {{ {} name {} }} }}", "ofType { ".repeat(n), "}".repeat(n))
        };
        let skip = |n: usize| "@skip(if: false) ".repeat(n);
        let aliases = |n: usize| {
            format!("{{{}}}", (0..n).map(|i| format!("a{i}:me{{permissions}}")).collect::<String>())
        };
        let chain =
            format!("__type(name: \"Query\") {{ {} name {} }}", "ofType { ".repeat(15), "}".repeat(15));
        let deep_and_costly =
            format!("{{ {} }}", (0..400).map(|i| format!("a{i}: {chain} ")).collect::<String>());
        let cases = [
            ("{ clients { ", "GRAPHQL_PARSE_FAILED", "the query does not parse: expected selection"),
            ("", "GRAPHQL_PARSE_FAILED", "the query does not parse: expected executable_definition"),
            (
                "{ me { kind } } { me { kind } }",
                "GRAPHQL_VALIDATION_FAILED",
                "document contains multiple operations",
            ),
            (
                "fragment F on Query { me { kind } }",
                "GRAPHQL_VALIDATION_FAILED",
                "document does not contain an operation",
            ),
            ("{ me { nope } }", "GRAPHQL_VALIDATION_FAILED", "Unknown field \"nope\" on type \"Me\"."),
            (
                "subscription { me { kind } }",
                "GRAPHQL_VALIDATION_FAILED",
                "Schema is not configured for subscriptions.",
            ),
            (
                "query A { me { kind } } query B { me { kind } }",
                "GRAPHQL_VALIDATION_FAILED",
                "Operation name required",
            ),
            (
                &format!("{{ me {} {{ kind }} }}", skip(9)),
                "TOO_MANY_DIRECTIVES",
                "The number of directives on the field `me`",
            ),
            (&nested(14), "QUERY_TOO_DEEP", "the query is nested more than 15 levels deep"),
            (&nested(20), "QUERY_TOO_DEEP", "the query is nested more than 15 levels deep"),
            (&nested(100), "QUERY_TOO_DEEP", "the query's brackets nest more than 40 levels deep"),
            (
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
                "QUERY_TOO_DEEP",
                "the query is nested",
            ),
            (&aliases(3000), "QUERY_TOO_COMPLEX", "the query costs more than 5000"),
            // Both: the cost is weighed first, as async-graphql orders them.
            (&deep_and_costly, "QUERY_TOO_COMPLEX", "the query costs more than 5000"),
            (
                "{ clients(first: 200) { edges { node { events(first: 200) { edges { node { id } } } } } } }",
                "QUERY_TOO_COMPLEX",
                "the query costs more than 5000",
            ),
            // What the schema does not have has no cost to weigh.
            (
                "{ clients(first: 200) { edges { node { events(first: 200) { nope } } } } }",
                "GRAPHQL_VALIDATION_FAILED",
                "Unknown field \"nope\" on type \"EventConnection\".",
            ),
            (
                "{ events(filter: {since: \"yesterday\"}) { edges { cursor } } }",
                "BAD_USER_INPUT",
                "Failed to parse \"DateTime\"",
            ),
        ];
        for (query, expected, message) in cases {
            let shown = &query[..query.len().min(80)];
            let sidecar = Arc::new(Sidecar::default());
            let mut response =
                schema().execute(async_graphql::Request::new(query).data(sidecar.clone())).await;
            response.errors.append(&mut sidecar.field_errors.lock().unwrap());
            let response = errors::with_codes(response);
            let error = response.errors.first().unwrap_or_else(|| panic!("{shown}: no error"));
            let ext = error.extensions.as_ref().unwrap();
            assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(expected)), "{shown}: {error:?}");
            assert!(error.message.starts_with(message), "{shown}: {}", error.message);
            let limit = match expected {
                "QUERY_TOO_COMPLEX" => Some(5000),
                "QUERY_TOO_DEEP" if message.contains("brackets") => Some(40),
                "QUERY_TOO_DEEP" => Some(15),
                "TOO_MANY_DIRECTIVES" => Some(8),
                _ => None,
            };
            assert_eq!(ext.get("limit"), limit.map(async_graphql::Value::from).as_ref(), "{shown}");
        }
    }

    #[tokio::test]
    async fn fragments_spreading_each_other_many_times_are_refused_at_once() {
        // 4^14 fields once inlined, from a kilobyte: async-graphql's own
        // checks would walk every one of them.
        let mut query = String::from("query { ...F14 } fragment F0 on Query { me { kind } }");
        for i in 1..=14 {
            query.push_str(&format!(" fragment F{i} on Query {{ {} }}", format!("...F{} ", i - 1).repeat(4)));
        }
        let started = std::time::Instant::now();
        let (code, _) = code_of(&query).await;
        assert_eq!(code, "\"QUERY_TOO_COMPLEX\"");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn nesting_is_refused_by_the_parser_or_the_depth_limit() {
        for braces in [18, 40, 5000] {
            let query = format!("{}{}", "{ me ".repeat(braces), "}".repeat(braces));
            let (code, message) = code_of(&query).await;
            assert_eq!(code, "\"QUERY_TOO_DEEP\"", "{braces}: {message}");
            assert!(message.len() < 200, "{message}");
        }
        let (code, message) = code_of("{ clients { ").await;
        assert_eq!(code, "\"GRAPHQL_PARSE_FAILED\"");
        assert!(message.starts_with("the query does not parse: expected"), "{message}");
    }
}
