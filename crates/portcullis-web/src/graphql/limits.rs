//! What is refused before the parser runs. async-graphql's parser bounds
//! the nesting of selection sets but not of values (`[[[[…]]]]`, `{a:{a:…}}`
//! in arguments, defaults and directives): a few kilobytes of them would
//! overflow a worker thread's stack and abort the process. So the document
//! is scanned first ([`super::text::nesting`]), and
//! any bracket nesting past [`MAX_NESTING`] is refused.

/// Brackets of every kind (`{`, `[`, `(`) open at once, at most. Selections
/// may nest [`super::MAX_DEPTH`] deep; arguments add a few more levels.
pub const MAX_NESTING: usize = 40;

/// Whether the document's brackets nest past [`MAX_NESTING`].
pub fn too_deep(document: &str) -> bool {
    super::text::nesting(document, MAX_NESTING) > MAX_NESTING
}
