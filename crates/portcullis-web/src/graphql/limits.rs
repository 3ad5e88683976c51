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
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation},
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
}

/// One walk of a parsed document: each fragment's shape is found once, so
/// the walk costs the document's length however its fragments spread.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Shape>,
    /// The first field with too many directives, in document order.
    directives: Option<(&'a Name, Pos)>,
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

/// The document's syntax tree, if its text and its shape are within the
/// limits; with the depth of its fields (which decides a document that
/// does not fit the schema: see [`Limits::validation`]).
pub(crate) fn check(document: &str) -> Result<(ExecutableDocument, usize, u64), Refusal> {
    if super::text::nesting(document, MAX_NESTING) > MAX_NESTING {
        return Err(Refusal::Brackets);
    }
    let parsed = parser::parse_query(document).map_err(Refusal::Parse)?;
    let mut walk = Walk { document: &parsed, fragments: HashMap::new(), directives: None };
    let (mut depth, mut fields, mut introspections) = (0, 0u64, 0u64);
    for (_, operation) in parsed.operations.iter() {
        let shape = walk.set(&operation.node.selection_set, 0)?;
        depth = depth.max(shape.depth);
        fields = fields.saturating_add(shape.fields);
        introspections = introspections.saturating_add(shape.introspections);
    }
    if let Some((field, at)) = walk.directives {
        return Err(Refusal::TooManyDirectives { field: field.clone(), at });
    }
    if fields > MAX_FIELDS {
        return Err(Refusal::TooComplex);
    }
    Ok((parsed, depth, introspections))
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
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsOfOneRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let (document, depth, introspections) = check(&request.query)?;
        self.depth.store(depth, Ordering::Relaxed);
        let cost = usize::try_from(introspections).unwrap_or(usize::MAX).saturating_mul(INTROSPECTION_COST);
        self.introspection_cost.store(cost, Ordering::Relaxed);
        // async-graphql takes the tree as it is and does not parse again.
        request.set_parsed_query(document);
        next.run(ctx, request).await
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
            Err(errors) => Err(errors.into_iter().map(|e| Refusal::Invalid(e).into()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(document: &str) -> Result<usize, Refusal> {
        check(document).map(|(_, depth, _)| depth)
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
