//! The GraphQL text reader (`portcullis-web/src/graphql/text.rs`: where a
//! string literal ends, how deep brackets nest) and the checks built on it
//! that every document passes before async-graphql parses it
//! (`graphql/limits.rs`).
//!
//! Any text: a string literal's length is within the text and ends on a
//! character boundary; the nesting count stops just past its limit and
//! agrees with an unlimited count below it. The limits' checks, run on a
//! thread with a tokio worker's 2 MiB stack as the server runs them, never
//! panic nor overflow it, and a document they accept has no syntax tree
//! nested deeper than [`MAX_NESTING`] brackets: the text reader never
//! counts fewer brackets than the parser then recurses into.
#![no_main]

use async_graphql::Positioned;
use async_graphql::parser::types::{BaseType, Directive, ExecutableDocument, Selection, SelectionSet, Type};
use async_graphql_value::{ConstValue, Value};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::on_worker_stack;
use portcullis_web::fuzzing::{MAX_NESTING, graphql_limits, nesting, string_literal_len};

fn value(v: &Value) -> usize {
    match v {
        Value::List(items) => 1 + items.iter().map(value).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(value).max().unwrap_or(0),
        _ => 0,
    }
}

fn constant(v: &ConstValue) -> usize {
    match v {
        ConstValue::List(items) => 1 + items.iter().map(constant).max().unwrap_or(0),
        ConstValue::Object(fields) => 1 + fields.values().map(constant).max().unwrap_or(0),
        _ => 0,
    }
}

fn ty(t: &Type) -> usize {
    match &t.base {
        BaseType::Named(_) => 0,
        BaseType::List(inner) => 1 + ty(inner),
    }
}

/// `( … )` around arguments, and the values in them.
fn arguments(args: &[(Positioned<async_graphql::Name>, Positioned<Value>)]) -> usize {
    if args.is_empty() { 0 } else { 1 + args.iter().map(|(_, v)| value(&v.node)).max().unwrap_or(0) }
}

fn directives(ds: &[Positioned<Directive>]) -> usize {
    ds.iter().map(|d| arguments(&d.node.arguments)).max().unwrap_or(0)
}

/// `{ … }` and everything in it.
fn set(s: &SelectionSet) -> usize {
    1 + s
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                let below = if f.node.selection_set.node.items.is_empty() {
                    0
                } else {
                    set(&f.node.selection_set.node)
                };
                arguments(&f.node.arguments).max(directives(&f.node.directives)).max(below)
            }
            Selection::FragmentSpread(s) => directives(&s.node.directives),
            Selection::InlineFragment(i) => {
                directives(&i.node.directives).max(set(&i.node.selection_set.node))
            }
        })
        .max()
        .unwrap_or(0)
}

/// How deep the parser's tree nests, in brackets.
fn tree_depth(doc: &ExecutableDocument) -> usize {
    let operations = doc.operations.iter().map(|(_, op)| {
        let variables = if op.node.variable_definitions.is_empty() {
            0
        } else {
            1 + op
                .node
                .variable_definitions
                .iter()
                .map(|v| {
                    let default = v.node.default_value.as_ref().map_or(0, |d| constant(&d.node));
                    ty(&v.node.var_type.node).max(default).max(directives(&v.node.directives))
                })
                .max()
                .unwrap_or(0)
        };
        variables.max(directives(&op.node.directives)).max(set(&op.node.selection_set.node))
    });
    let fragments =
        doc.fragments.values().map(|f| directives(&f.node.directives).max(set(&f.node.selection_set.node)));
    operations.chain(fragments).max().unwrap_or(0)
}

fuzz_target!(|text: &str| {
    // Every string literal the reader may be asked about.
    for (at, _) in text.match_indices('"') {
        let rest = &text[at..];
        let len = string_literal_len(rest);
        assert!((1..=rest.len()).contains(&len) && rest.is_char_boundary(len), "{len} in {rest:?}");
    }
    let full = nesting(text, usize::MAX - 1);
    assert!(full <= text.bytes().filter(|b| matches!(b, b'{' | b'[' | b'(')).count());
    for limit in [0, 1, 2, 5, MAX_NESTING] {
        assert_eq!(nesting(text, limit), full.min(limit + 1), "limit {limit}");
    }
    let document = text.to_owned();
    let depth = on_worker_stack(move || graphql_limits(&document).ok().map(|doc| tree_depth(&doc)));
    if let Some(depth) = depth {
        assert!(depth <= MAX_NESTING, "accepted a document nested {depth} deep, counted {full}");
        assert!(depth <= full, "the parser built {depth} levels from {full} counted brackets");
    }
});
