//! What is refused before the parser runs. async-graphql's parser bounds
//! the nesting of selection sets but not of values (`[[[[…]]]]`, `{a:{a:…}}`
//! in arguments, defaults and directives): a few kilobytes of them would
//! overflow a worker thread's stack and abort the process. So the document
//! is scanned first, and any bracket nesting past [`MAX_NESTING`] is refused.

/// Brackets of every kind (`{`, `[`, `(`) open at once, at most. Selections
/// may nest [`super::MAX_DEPTH`] deep; arguments add a few more levels.
pub const MAX_NESTING: usize = 40;

/// How deep the document's brackets nest, outside strings and comments;
/// stops counting once past `limit`.
pub fn nesting(document: &str, limit: usize) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() && deepest <= limit {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !(bytes[i..].starts_with(b"\"\"\"") && bytes[i - 1] != b'\\') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        assert_eq!(nesting("{ me { kind } }", 40), 2);
        assert_eq!(nesting("{ me(x: [[{a: 1}]]) { kind } }", 40), 5);
        assert_eq!(
            nesting(
                r#"{ a(s: "{{{{[[[(") b(s: """ {{{{ \""" {{ """) # {{{{{{
            c }"#,
                40
            ),
            2
        );
        assert_eq!(nesting(&"[".repeat(100_000), 40), 41, "stops past the limit");
        for odd in ["\"", "\"\"\"", "\"\\", "#", "}}}", "\"\"\"\\\"\"\""] {
            assert!(nesting(odd, 40) <= 1, "{odd}");
        }
    }
}
