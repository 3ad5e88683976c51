//! The redactor of GraphQL documents (`portcullis-web/src/redact/graphql.rs`),
//! which reads them as text, judged against the parser the server runs
//! them with (async-graphql's).
//!
//! Documents built from the input (operations, variables with defaults,
//! fields, arguments, lists, objects, directives, fragments, strings and
//! block strings with escapes, comments, credentials planted in strings),
//! or any text. The redactor never panics. Where the parser reads the
//! document (its brackets nest no deeper than the server allows) and reads
//! the stored form too, the two have the same strings in the same places,
//! and in the stored one: every string under a credential-named argument or
//! input field, at any depth, is `[redacted]` or a marker of at most its
//! first and last four characters; every string outside the selection sets
//! (variables' defaults, operations' and fragments' directives) is
//! `[redacted]`; no string holds a credential-looking word. Every variable
//! given to a credential argument is among those the redactor reports.
#![no_main]

use arbitrary::Arbitrary;
use async_graphql::parser::{
    parse_query,
    types::{Directive, ExecutableDocument, Selection, SelectionSet},
};
use async_graphql_value::{ConstValue, Value};
use libfuzzer_sys::fuzz_target;
use portcullis_domain::credential::{REDACTED, scrub_text};
use portcullis_fuzz::{Text, is_redacted_form_of};
use portcullis_web::fuzzing::{MAX_NESTING, is_sensitive, nesting, redact_graphql};

const NAMES: [&str; 10] = [
    "password",
    "clientSecret",
    "token",
    "new_password",
    "accessToken",
    "name",
    "email",
    "input",
    "id",
    "note",
];

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Built(Document),
    Text(&'a str),
}

#[derive(Arbitrary, Debug)]
struct Document {
    operations: Vec<Operation>,
    fragments: Vec<Fragment>,
    /// What separates tokens, used in turn.
    gaps: Vec<Gap>,
}

#[derive(Arbitrary, Debug)]
struct Operation {
    kind: OperationKind,
    variables: Vec<Variable>,
    directives: Vec<DirectiveIn>,
    selection: Vec<SelectionIn>,
}

#[derive(Arbitrary, Debug)]
enum OperationKind {
    Shorthand,
    Query(Option<Ident>),
    Mutation(Option<Ident>),
}

#[derive(Arbitrary, Debug)]
struct Variable {
    name: Ident,
    list: bool,
    default: Option<Val>,
    directives: Vec<DirectiveIn>,
}

#[derive(Arbitrary, Debug)]
struct DirectiveIn {
    name: Ident,
    args: Vec<(ArgName, Val)>,
}

#[derive(Arbitrary, Debug)]
enum SelectionIn {
    Field {
        alias: Option<ArgName>,
        name: ArgName,
        args: Vec<(ArgName, Val)>,
        directives: Vec<DirectiveIn>,
        selection: Vec<SelectionIn>,
    },
    Spread(Ident, Vec<DirectiveIn>),
    Inline(Option<Ident>, Vec<SelectionIn>),
}

#[derive(Arbitrary, Debug)]
struct Fragment {
    name: Ident,
    on: Ident,
    directives: Vec<DirectiveIn>,
    selection: Vec<SelectionIn>,
}

#[derive(Arbitrary, Debug)]
enum Val {
    String(Text, Escape),
    Block(Text),
    Int(i32),
    Bool(bool),
    Null,
    Enum(Ident),
    Var(Ident),
    List(Vec<Val>),
    Object(Vec<(ArgName, Val)>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Escape {
    None,
    First,
    All,
}

#[derive(Arbitrary, Debug)]
enum ArgName {
    Listed(u8),
    Free(Ident),
}

#[derive(Arbitrary, Debug)]
struct Ident(Vec<u8>);

#[derive(Arbitrary, Debug, Clone)]
enum Gap {
    Space,
    Newline,
    Comma,
    Comment(String),
    Tab,
}

impl Ident {
    fn text(&self) -> String {
        const FIRST: &[u8] = b"_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        const REST: &[u8] = b"_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = String::from("x");
        for (i, b) in self.0.iter().take(24).enumerate() {
            let alphabet = if i == 0 { FIRST } else { REST };
            let c = alphabet[usize::from(*b) % alphabet.len()] as char;
            if i == 0 {
                out.clear();
            }
            out.push(c);
        }
        out
    }
}

impl ArgName {
    fn text(&self) -> String {
        match self {
            Self::Listed(i) => NAMES[usize::from(*i) % NAMES.len()].to_owned(),
            Self::Free(ident) => ident.text(),
        }
    }
}

/// Writes a document, a gap between every two tokens.
struct Writer<'a> {
    out: String,
    gaps: &'a [Gap],
    next: usize,
}

impl Writer<'_> {
    fn token(&mut self, token: &str) {
        if !self.out.is_empty() {
            let gap = if self.gaps.is_empty() {
                Gap::Space
            } else {
                self.gaps[self.next % self.gaps.len()].clone()
            };
            self.next += 1;
            match gap {
                Gap::Space => self.out.push(' '),
                Gap::Newline => self.out.push('\n'),
                Gap::Comma => self.out.push_str(" , "),
                Gap::Tab => self.out.push('\t'),
                Gap::Comment(text) => {
                    let text: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
                    self.out.push_str(" #");
                    self.out.push_str(&text);
                    self.out.push('\n');
                }
            }
        }
        self.out.push_str(token);
    }

    fn value(&mut self, value: &Val) {
        match value {
            Val::String(text, escape) => {
                let (text, _) = text.render();
                let json = serde_json::to_string(&text).expect("a string serialises");
                let inner = &json[1..json.len() - 1];
                let escaped = match escape {
                    Escape::None => inner.to_owned(),
                    Escape::First | Escape::All => {
                        let mut out = String::new();
                        let mut rest = inner;
                        let mut first = true;
                        while let Some(c) = rest.chars().next() {
                            // An escape already there is kept whole.
                            let len = if c == '\\' {
                                if rest[1..].starts_with('u') { 6 } else { 2 }
                            } else {
                                c.len_utf8()
                            };
                            let len = len.min(rest.len());
                            if c != '\\' && (first || matches!(escape, Escape::All)) && (c as u32) < 0x10000 {
                                out.push_str(&format!("\\u{:04X}", c as u32));
                            } else {
                                out.push_str(&rest[..len]);
                            }
                            first = false;
                            rest = &rest[len..];
                        }
                        out
                    }
                };
                self.token(&format!("\"{escaped}\""));
            }
            Val::Block(text) => {
                let (mut text, _) = text.render();
                text = text.replace("\"\"\"", "\\\"\"\"");
                if text.ends_with('"') || text.ends_with('\\') {
                    text.push(' ');
                }
                self.token(&format!("\"\"\"{text}\"\"\""));
            }
            Val::Int(i) => self.token(&i.to_string()),
            Val::Bool(b) => self.token(&b.to_string()),
            Val::Null => self.token("null"),
            Val::Enum(ident) => self.token(&ident.text()),
            Val::Var(ident) => self.token(&format!("${}", ident.text())),
            Val::List(items) => {
                self.token("[");
                items.iter().for_each(|v| self.value(v));
                self.token("]");
            }
            Val::Object(fields) => {
                self.token("{");
                for (name, v) in fields {
                    self.token(&name.text());
                    self.token(":");
                    self.value(v);
                }
                self.token("}");
            }
        }
    }

    fn arguments(&mut self, args: &[(ArgName, Val)]) {
        if !args.is_empty() {
            self.token("(");
            for (name, v) in args {
                self.token(&name.text());
                self.token(":");
                self.value(v);
            }
            self.token(")");
        }
    }

    fn directives(&mut self, directives: &[DirectiveIn]) {
        for d in directives {
            self.token(&format!("@{}", d.name.text()));
            self.arguments(&d.args);
        }
    }

    fn selection(&mut self, fields: &[SelectionIn]) {
        self.token("{");
        for field in fields {
            match field {
                SelectionIn::Field { alias, name, args, directives, selection } => {
                    if let Some(alias) = alias {
                        self.token(&alias.text());
                        self.token(":");
                    }
                    self.token(&name.text());
                    self.arguments(args);
                    self.directives(directives);
                    if !selection.is_empty() {
                        self.selection(selection);
                    }
                }
                SelectionIn::Spread(name, directives) => {
                    self.token(&format!("...{}", name.text()));
                    self.directives(directives);
                }
                SelectionIn::Inline(on, selection) => {
                    self.token("...");
                    if let Some(on) = on {
                        self.token("on");
                        self.token(&on.text());
                    }
                    self.selection(selection);
                }
            }
        }
        self.token("}");
    }

    fn document(mut self, doc: &Document) -> String {
        for op in &doc.operations {
            let name = match &op.kind {
                OperationKind::Shorthand => None,
                OperationKind::Query(name) => Some(("query", name)),
                OperationKind::Mutation(name) => Some(("mutation", name)),
            };
            if let Some((keyword, name)) = name {
                self.token(keyword);
                if let Some(name) = name {
                    self.token(&name.text());
                }
                if !op.variables.is_empty() {
                    self.token("(");
                    for v in &op.variables {
                        self.token(&format!("${}", v.name.text()));
                        self.token(":");
                        self.token(if v.list { "[String]" } else { "String" });
                        if let Some(default) = &v.default {
                            self.token("=");
                            self.value(default);
                        }
                        self.directives(&v.directives);
                    }
                    self.token(")");
                }
                self.directives(&op.directives);
            }
            self.selection(&op.selection);
        }
        for f in &doc.fragments {
            self.token("fragment");
            self.token(&f.name.text());
            self.token("on");
            self.token(&f.on.text());
            self.directives(&f.directives);
            self.selection(&f.selection);
        }
        self.out
    }
}

/// Where a string sits, as the parser reads the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Outside every selection set.
    Outer,
    /// Under a credential-named argument or input field.
    Credential,
    Plain,
}

#[derive(Default)]
struct Found {
    strings: Vec<(Place, String)>,
    /// Variables given to credential arguments.
    variables: Vec<String>,
}

impl Found {
    fn value(&mut self, value: &Value, outer: bool, credential: bool) {
        match value {
            Value::String(s) => self.strings.push((place(outer, credential), s.clone())),
            Value::Variable(name) if credential => self.variables.push(name.to_string()),
            Value::List(items) => items.iter().for_each(|v| self.value(v, outer, credential)),
            Value::Object(fields) => {
                fields.iter().for_each(|(k, v)| self.value(v, outer, credential || is_sensitive(k)))
            }
            _ => {}
        }
    }

    fn constant(&mut self, value: &ConstValue) {
        match value {
            ConstValue::String(s) => self.strings.push((Place::Outer, s.clone())),
            ConstValue::List(items) => items.iter().for_each(|v| self.constant(v)),
            ConstValue::Object(fields) => fields.values().for_each(|v| self.constant(v)),
            _ => {}
        }
    }

    fn directives(&mut self, directives: &[async_graphql::Positioned<Directive>], outer: bool) {
        for d in directives {
            for (name, value) in &d.node.arguments {
                self.value(&value.node, outer, is_sensitive(&name.node));
            }
        }
    }

    fn set(&mut self, set: &SelectionSet) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    for (name, value) in &field.node.arguments {
                        self.value(&value.node, false, is_sensitive(&name.node));
                    }
                    self.directives(&field.node.directives, false);
                    self.set(&field.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives, false),
                Selection::InlineFragment(inline) => {
                    self.directives(&inline.node.directives, false);
                    self.set(&inline.node.selection_set.node);
                }
            }
        }
    }

    /// Every string of the document, operations and fragments in name order.
    fn of(doc: &ExecutableDocument) -> Self {
        let mut found = Self::default();
        let mut operations: Vec<_> = doc.operations.iter().collect();
        operations.sort_by_key(|(name, _)| name.map(|n| n.to_string()));
        for (_, op) in operations {
            for v in &op.node.variable_definitions {
                if let Some(default) = &v.node.default_value {
                    found.constant(&default.node);
                }
                found.directives(&v.node.directives, true);
            }
            found.directives(&op.node.directives, true);
            found.set(&op.node.selection_set.node);
        }
        let mut fragments: Vec<_> = doc.fragments.iter().collect();
        fragments.sort_by_key(|(name, _)| name.to_string());
        for (_, f) in fragments {
            found.directives(&f.node.directives, true);
            found.set(&f.node.selection_set.node);
        }
        found
    }
}

fn place(outer: bool, credential: bool) -> Place {
    match (outer, credential) {
        (true, _) => Place::Outer,
        (false, true) => Place::Credential,
        (false, false) => Place::Plain,
    }
}

/// The parser's reading, where the server would parse it at all.
fn parse(document: &str) -> Option<ExecutableDocument> {
    if nesting(document, MAX_NESTING) > MAX_NESTING {
        return None;
    }
    parse_query(document).ok()
}

fn check(document: &str) {
    let (stored, bound) = redact_graphql(document);
    let Some(original) = parse(document) else { return };
    let sent = Found::of(&original);
    for variable in &sent.variables {
        assert!(
            bound.contains(variable),
            "${variable} is given to a credential argument, not reported: {bound:?}"
        );
    }
    let Some(kept) = parse(&stored) else { return };
    let kept = Found::of(&kept);
    let places = |found: &Found| found.strings.iter().map(|(place, _)| *place).collect::<Vec<_>>();
    assert_eq!(places(&sent), places(&kept), "the stored document has other strings:\n{document}\n{stored}");
    for ((place, sent), (_, kept)) in sent.strings.iter().zip(&kept.strings) {
        match place {
            Place::Outer => assert_eq!(kept, REDACTED, "{sent:?} kept outside the selections: {stored}"),
            Place::Credential => {
                assert!(is_redacted_form_of(kept, sent), "{sent:?} stored as {kept:?}: {stored}")
            }
            Place::Plain => {}
        }
        assert_eq!(scrub_text(kept), kept.as_str(), "a credential-looking word kept: {stored}");
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Built(doc) => {
        let text = Writer { out: String::new(), gaps: &doc.gaps, next: 0 }.document(&doc);
        check(&text);
    }
    Input::Text(text) => check(text),
});
