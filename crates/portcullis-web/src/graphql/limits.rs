//! What a document may be before anything runs, decided on its text and
//! its syntax tree, never on the words of a library's error.
//!
//! [`Limits`] is the schema's one extension. Before validation it scans the
//! text (brackets nest at most [`MAX_NESTING`]: async-graphql's parser
//! bounds the nesting of selection sets but not of values, `[[[[…]]]]`,
//! `{a:{a:…}}` in arguments, defaults and directives, and a few kilobytes of
//! them would overflow a worker thread's stack and abort the process),
//! parses it itself (the parser's error is typed), and walks the tree once,
//! each fragment once ([`Shape`]): selections may nest [`MAX_DEPTH`] deep,
//! a field may carry [`MAX_DIRECTIVES`] directives, and a document may
//! inline to [`MAX_FIELDS`] fields. After validation, which measures it
//! against the schema, a query may cost [`MAX_COMPLEXITY`]. Every refusal is
//! a [`Refusal`], which says its own code.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use async_graphql::{
    Name, Pos, Positioned, Request, ServerError, ServerResult, ValidationResult,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextResolve,
        NextValidation, ResolveInfo,
    },
    parser::{
        self,
        types::{ExecutableDocument, Selection, SelectionSet},
    },
};

use super::{MAX_COMPLEXITY, MAX_DEPTH};

/// Brackets of every kind (`{`, `[`, `(`) open at once, at most. Selections
/// may nest [`MAX_DEPTH`] deep; arguments add a few more levels.
pub const MAX_NESTING: usize = 40;

/// Selection sets (a field's, a fragment's, an inline fragment's) nested in
/// one another, at most: fields nest [`MAX_DEPTH`] deep, fragments around
/// them add a little. A chain of fragments spreading each other, or a
/// fragment spreading itself, nests past it.
pub const MAX_SELECTION_NESTING: usize = MAX_DEPTH + 2;

/// Directives on one field, at most.
pub const MAX_DIRECTIVES: usize = 8;

/// Fields a document may hold once its fragments are inlined: validation
/// walks every one of them, so a kilobyte of fragments that spread each
/// other four times over, fourteen deep (4^14 fields), must be refused
/// before it. Every field costs at least 1 and a connection at least its
/// selection, so each field adds at least a third to the cost: a document
/// past this limit is past [`MAX_COMPLEXITY`] too, and is told so.
pub const MAX_FIELDS: u64 = 3 * MAX_COMPLEXITY as u64;

/// What one introspection field (`__schema`, `__type`) adds to a query's
/// cost, which async-graphql counts as 1 a field: its answer is the whole
/// schema (some 40 KB), so 200 aliased `__schema` within the cost made an
/// 8 MB answer, and a few of them in parallel stalled the server. At most
/// four fit in one document now; GraphiQL and code generators send one.
pub const INTROSPECTION_COST: usize = 1_000;

/// An alias's length, at most: an alias is written into the answer at
/// every place its field is answered, so a long one spread through
/// fragments and aliases multiplied the answer past its budget (72 MB from
/// a 64 KiB request). Our own field names are a few dozen bytes.
pub const MAX_ALIAS_BYTES: usize = 64;

/// What a document's variables may add to an answer by being quoted in
/// errors: a variable of the wrong type is quoted whole in the error of
/// every place it is used (1,150 uses of a 32 KB string answered 74 MB of
/// validation errors). Uses × the longest value, at most.
pub const MAX_VARIABLE_ECHO: usize = 256 * 1024;

/// The answer's size, at most, counted as it is built (keys and values,
/// JSON-escaped): past it, nothing more is resolved and the whole answer
/// is one `ANSWER_TOO_LARGE` error. The cost ([`super::MAX_COMPLEXITY`])
/// bounds most answers well under it; this bounds the rest (lists, which
/// cost 1 however long they are).
pub const MAX_ANSWER_BYTES: usize = 5 * 1024 * 1024;

/// Errors in one answer, at most; the rest are dropped.
pub const MAX_ERRORS: usize = 100;

/// Why a document is refused before it runs.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Its brackets nest past [`MAX_NESTING`] (found before parsing).
    Brackets,
    /// It does not parse, or breaks a rule the parser checks (a second
    /// anonymous operation, a fragment defined twice, …).
    Parse(parser::Error),
    /// Its selections nest past [`MAX_DEPTH`] fields or
    /// [`MAX_SELECTION_NESTING`] selection sets; `at`, where it was seen.
    TooDeep { at: Option<Pos> },
    /// A field with more than [`MAX_DIRECTIVES`] directives.
    TooManyDirectives { field: Name, at: Pos },
    /// An alias longer than [`MAX_ALIAS_BYTES`].
    LongAlias { at: Pos },
    /// Variables that, quoted at every use, would pass [`MAX_VARIABLE_ECHO`].
    VariablesEchoed,
    /// The answer passed [`MAX_ANSWER_BYTES`] while it was built.
    AnswerTooLarge,
    /// It costs more than [`MAX_COMPLEXITY`] (or inlines to more than
    /// [`MAX_FIELDS`] fields, which is more).
    TooComplex,
    /// It does not fit the schema: one of the validation's errors.
    Invalid(ServerError),
}

/// What a selection set holds once its fragments are inlined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Shape {
    /// Selection sets nested below it (as async-graphql's recursion check
    /// counts them: a field's, a fragment spread's, an inline fragment's).
    nesting: usize,
    /// Fields nested in it (as async-graphql's depth counts them).
    depth: usize,
    /// Fields in it.
    fields: u64,
    /// Introspection fields (`__schema`, `__type`) in it.
    introspections: u64,
    /// Uses of variables in its arguments.
    variables: u64,
}

/// The variables `value` uses (in lists and objects too).
fn variable_uses(value: &async_graphql_value::Value) -> u64 {
    use async_graphql_value::Value;
    match value {
        Value::Variable(_) => 1,
        Value::List(items) => items.iter().map(variable_uses).sum(),
        Value::Object(fields) => fields.values().map(variable_uses).sum(),
        _ => 0,
    }
}

/// One walk of a parsed document: each fragment's shape is found once, so
/// the walk costs the document's length however its fragments spread.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Shape>,
    /// The first field with too many directives, in document order.
    directives: Option<(&'a Name, Pos)>,
    /// The first alias that is too long.
    long_alias: Option<Pos>,
}

impl<'a> Walk<'a> {
    /// The shape of `set`, found at `level` selection sets below its
    /// operation; refused as soon as a set is nested past the limit (so
    /// that a cycle of fragments ends, and so does the recursion here).
    fn set(&mut self, set: &'a Positioned<SelectionSet>, level: usize) -> Result<Shape, Refusal> {
        if level > MAX_SELECTION_NESTING {
            return Err(Refusal::TooDeep { at: Some(set.pos) });
        }
        let mut shape = Shape::default();
        for item in &set.node.items {
            let inner = match &item.node {
                Selection::Field(field) => {
                    if field.node.directives.len() > MAX_DIRECTIVES && self.directives.is_none() {
                        self.directives = Some((&field.node.name.node, field.pos));
                    }
                    if let Some(alias) = &field.node.alias
                        && alias.node.len() > MAX_ALIAS_BYTES
                        && self.long_alias.is_none()
                    {
                        self.long_alias = Some(alias.pos);
                    }
                    let arguments = field.node.arguments.iter().map(|(_, v)| variable_uses(&v.node));
                    let in_directives = field
                        .node
                        .directives
                        .iter()
                        .flat_map(|d| d.node.arguments.iter().map(|(_, v)| variable_uses(&v.node)));
                    let variables: u64 = arguments.chain(in_directives).sum();
                    let below = &field.node.selection_set;
                    // A leaf's (empty) selection set is no level.
                    let (nesting, inner) = if below.node.items.is_empty() {
                        (0, Shape::default())
                    } else {
                        let inner = self.set(below, level + 1)?;
                        (1 + inner.nesting, inner)
                    };
                    let name = field.node.name.node.as_str();
                    let introspection = u64::from(name == "__schema" || name == "__type");
                    Shape {
                        nesting,
                        depth: 1 + inner.depth,
                        fields: 1 + inner.fields,
                        introspections: introspection.saturating_add(inner.introspections),
                        variables: variables.saturating_add(inner.variables),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    match self.fragment(&spread.node.fragment_name.node, level + 1, spread.pos)? {
                        Some(inner) => Shape { nesting: 1 + inner.nesting, ..inner },
                        // Unknown: validation says so.
                        None => Shape::default(),
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.set(&inline.node.selection_set, level + 1)?;
                    Shape { nesting: 1 + inner.nesting, ..inner }
                }
            };
            shape.nesting = shape.nesting.max(inner.nesting);
            shape.depth = shape.depth.max(inner.depth);
            shape.fields = shape.fields.saturating_add(inner.fields);
            shape.introspections = shape.introspections.saturating_add(inner.introspections);
            shape.variables = shape.variables.saturating_add(inner.variables);
        }
        Ok(shape)
    }

    /// The shape of the fragment `name`, its selection set at `level`.
    fn fragment(&mut self, name: &'a Name, level: usize, at: Pos) -> Result<Option<Shape>, Refusal> {
        let Some(fragment) = self.document.fragments.get(name) else { return Ok(None) };
        if let Some(shape) = self.fragments.get(name) {
            if level + shape.nesting > MAX_SELECTION_NESTING {
                return Err(Refusal::TooDeep { at: Some(at) });
            }
            return Ok(Some(*shape));
        }
        let shape = self.set(&fragment.node.selection_set, level)?;
        self.fragments.insert(name, shape);
        Ok(Some(shape))
    }
}

/// What [`check`] found of a document within the limits.
pub(crate) struct Checked {
    pub document: ExecutableDocument,
    /// How deep its fields nest (which decides a document that does not
    /// fit the schema: see [`Limits::validation`]).
    pub depth: usize,
    pub introspections: u64,
    /// Uses of variables, fragments inlined.
    pub variable_uses: u64,
}

/// The document's syntax tree, if its text and its shape are within the
/// limits.
pub(crate) fn check(document: &str) -> Result<Checked, Refusal> {
    if super::text::nesting(document, MAX_NESTING) > MAX_NESTING {
        return Err(Refusal::Brackets);
    }
    let parsed = parser::parse_query(document).map_err(Refusal::Parse)?;
    let mut walk = Walk { document: &parsed, fragments: HashMap::new(), directives: None, long_alias: None };
    let (mut depth, mut fields, mut introspections, mut variable_uses) = (0, 0u64, 0u64, 0u64);
    for (_, operation) in parsed.operations.iter() {
        let shape = walk.set(&operation.node.selection_set, 0)?;
        depth = depth.max(shape.depth);
        fields = fields.saturating_add(shape.fields);
        introspections = introspections.saturating_add(shape.introspections);
        variable_uses = variable_uses.saturating_add(shape.variables);
    }
    if let Some((field, at)) = walk.directives {
        return Err(Refusal::TooManyDirectives { field: field.clone(), at });
    }
    if let Some(at) = walk.long_alias {
        return Err(Refusal::LongAlias { at });
    }
    if fields > MAX_FIELDS {
        return Err(Refusal::TooComplex);
    }
    Ok(Checked { document: parsed, depth, introspections, variable_uses })
}

/// The JSON size of what `value` adds to an answer: strings escaped;
/// objects' fields and lists' items are resolved, and counted, on their own.
fn leaf_bytes(value: &async_graphql::Value) -> usize {
    use async_graphql::Value;
    match value {
        Value::String(s) => {
            2 + s
                .chars()
                .map(|c| match c {
                    '"' | '\\' | '\n' | '\r' | '\t' => 2,
                    c if (c as u32) < 0x20 => 6,
                    c => c.len_utf8(),
                })
                .sum::<usize>()
        }
        Value::Enum(name) => 2 + name.len(),
        // Its items are counted as they are resolved.
        Value::List(_) => 2,
        Value::Object(_) => 2,
        Value::Null => 4,
        Value::Boolean(_) => 5,
        Value::Number(_) => 20,
        Value::Binary(bytes) => 2 + 4 * bytes.len().div_ceil(3),
    }
}

/// The schema's extension: [`check`] before validation, the cost after.
#[derive(Default)]
pub(crate) struct Limits;

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsOfOneRequest::default())
    }
}

#[derive(Default)]
struct LimitsOfOneRequest {
    /// How deep the document's fields nest, as [`check`] found.
    depth: AtomicUsize,
    /// What its introspection fields add to its cost.
    introspection_cost: AtomicUsize,
    /// The answer's size so far.
    answer_bytes: AtomicUsize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsOfOneRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let checked = check(&request.query)?;
        self.depth.store(checked.depth, Ordering::Relaxed);
        let cost =
            usize::try_from(checked.introspections).unwrap_or(usize::MAX).saturating_mul(INTROSPECTION_COST);
        self.introspection_cost.store(cost, Ordering::Relaxed);
        let longest = request
            .variables
            .values()
            .map(|v| serde_json::to_string(v).map_or(0, |t| t.len()))
            .max()
            .unwrap_or(0);
        if usize::try_from(checked.variable_uses).unwrap_or(usize::MAX).saturating_mul(longest)
            > MAX_VARIABLE_ECHO
        {
            return Err(Refusal::VariablesEchoed.into());
        }
        // async-graphql takes the tree as it is and does not parse again.
        request.set_parsed_query(checked.document);
        next.run(ctx, request).await
    }

    /// Counts the answer as its fields are resolved; once past
    /// [`MAX_ANSWER_BYTES`], resolves nothing more (no further store
    /// calls) and the request answers one `ANSWER_TOO_LARGE` error.
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        if self.answer_bytes.load(Ordering::Relaxed) > MAX_ANSWER_BYTES {
            // A null, not nothing: a list's items must have a value.
            return Ok(Some(async_graphql::Value::Null));
        }
        // A list's items are resolved (and counted) one by one, without a key.
        let key = match info.path_node.segment {
            async_graphql::QueryPathSegment::Index(_) => 1,
            async_graphql::QueryPathSegment::Name(_) => info.alias.unwrap_or(info.name).len() + 4,
        };
        let value = next.run(ctx, info).await?;
        let bytes = key + value.as_ref().map_or(4, leaf_bytes);
        self.answer_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(value)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> async_graphql::Response {
        let response = next.run(ctx).await;
        if self.answer_bytes.load(Ordering::Relaxed) > MAX_ANSWER_BYTES {
            return async_graphql::Response::from_errors(vec![Refusal::AnswerTooLarge.into()]);
        }
        response
    }

    /// async-graphql measures the cost and the depth while it validates.
    /// A query that fits the schema is refused for its cost first, then for
    /// its depth (as async-graphql orders them); one that does not fit is
    /// refused for its depth, known from its shape alone, or else for what
    /// does not fit (the cost of a field the schema does not have is
    /// unknown).
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        match next.run(ctx).await {
            Ok(result)
                if result.complexity.saturating_add(self.introspection_cost.load(Ordering::Relaxed))
                    > MAX_COMPLEXITY =>
            {
                Err(vec![Refusal::TooComplex.into()])
            }
            Ok(result) if result.depth > MAX_DEPTH => Err(vec![Refusal::TooDeep { at: None }.into()]),
            Ok(result) => Ok(result),
            Err(_) if self.depth.load(Ordering::Relaxed) > MAX_DEPTH => {
                Err(vec![Refusal::TooDeep { at: None }.into()])
            }
            Err(errors) => {
                Err(errors.into_iter().take(MAX_ERRORS).map(|e| Refusal::Invalid(e).into()).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(document: &str) -> Result<usize, Refusal> {
        check(document).map(|checked| checked.depth)
    }

    #[test]
    fn depth_counts_fields_and_nesting_counts_selection_sets_as_async_graphql_does() {
        assert_eq!(shape("{ me { kind } }").unwrap(), 2);
        assert_eq!(shape("{ ...F } fragment F on Query { me { kind } }").unwrap(), 2);
        assert_eq!(shape("{ ... on Query { ... on Query { me { kind } } } }").unwrap(), 2);
        assert!(matches!(shape("{ me { kind } } { me { kind } }"), Err(Refusal::Parse(_))));
        // 17 selection sets below the operation's fit; 18 do not.
        let inline = |n: usize| format!("{{ {} me {} }}", "... on Query { ".repeat(n), "}".repeat(n));
        assert_eq!(shape(&inline(17)).unwrap(), 1);
        assert!(matches!(shape(&inline(18)), Err(Refusal::TooDeep { at: Some(_) })));
        // The depth itself is for the caller to weigh (see `validation`).
        assert_eq!(shape(&format!("{}{}", "{ me ".repeat(17), "}".repeat(17))).unwrap(), 17);
    }

    #[test]
    fn fragments_that_spread_each_other_are_walked_once_or_refused() {
        for cycle in [
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "{ ...A } fragment A on Query { me { kind } ...A }",
        ] {
            assert!(matches!(shape(cycle), Err(Refusal::TooDeep { .. })), "{cycle}");
        }
        // Fragments that spread the one before four times, fourteen deep:
        // 4^14 fields once inlined, found in a walk of 15 fragments.
        let mut document = String::from("{ ...F14 } fragment F0 on Query { me { kind } }");
        for i in 1..=14 {
            document
                .push_str(&format!(" fragment F{i} on Query {{ {} }}", format!("...F{} ", i - 1).repeat(4)));
        }
        let started = std::time::Instant::now();
        assert!(matches!(shape(&document), Err(Refusal::TooComplex)));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // A fragment known deep is refused where it is spread too deep.
        let mut document = String::from("{ ...A ...B } fragment A on Query { me { kind } }");
        document.push_str(&format!(
            " fragment B on Query {{ {} ...A {} }}",
            "... on Query { ".repeat(15),
            "}".repeat(15)
        ));
        assert!(matches!(shape(&document), Err(Refusal::TooDeep { at: Some(_) })));
    }

    #[test]
    fn values_nested_after_an_unclosed_block_string_are_refused_before_parsing() {
        // The parser reads `""""` as two empty strings and recurses into
        // the lists after them (docs/fuzzing.md).
        let deep = format!(r#"{{ a(x: ["""", {}{}]) }}"#, "[".repeat(5_000), "]".repeat(5_000));
        assert!(matches!(check(&deep), Err(Refusal::Brackets)));
    }

    #[test]
    fn the_first_field_with_too_many_directives_is_named() {
        let skip = |n: usize| "@skip(if: false) ".repeat(n);
        let document = format!("{{ me {} {{ kind }} clients {} {{ nodes {{ id }} }} }}", skip(8), skip(9));
        match shape(&document) {
            Err(Refusal::TooManyDirectives { field, at }) => {
                assert_eq!(field.as_str(), "clients");
                assert_eq!(at.line, 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
