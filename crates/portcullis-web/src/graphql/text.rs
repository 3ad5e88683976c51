//! Reading GraphQL documents as text, before (or without) parsing them:
//! where a string literal ends, and how deep brackets nest. Shared by the
//! redaction of stored GraphQL requests and the web layer's refusal of
//! documents nested too deep for the parser.

/// The length of the string literal `text` starts with: `"…"` with
/// escapes, or a `"""…"""` block; to the end of the line or text when it
/// is not closed. A `"""` that is never closed is not a block string: the
/// parser reads the empty string `""` there and goes on, and so does this.
pub fn string_literal_len(text: &str) -> usize {
    if let Some(body) = text.strip_prefix("\"\"\"") {
        let mut at = 0;
        while let Some(found) = body[at..].find("\"\"\"") {
            let end = at + found;
            if !body[..end].ends_with('\\') {
                return 3 + end + 3;
            }
            at = end + 3;
        }
        return 2;
    }
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return i + 1,
            '\n' | '\r' => return i,
            _ => {}
        }
    }
    text.len()
}

/// How deep the document's brackets (`{`, `[`, `(`) nest, outside strings
/// and comments; stops counting once past `limit`.
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
                i += document[i..].find(['\n', '\r']).unwrap_or(document.len() - i);
                continue;
            }
            // A `"` byte is never inside a multi-byte character: `i` is a
            // character boundary here.
            b'"' => {
                i += string_literal_len(&document[i..]).max(1);
                continue;
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
        for odd in ["\"", "\"\"\"", "\"\\", "#", "}}}", "\"\"\"\\\"\"\"", "ü{\"ä\"}"] {
            assert!(nesting(odd, 40) <= 1, "{odd}");
        }
    }

    #[test]
    fn string_literals_end_where_graphql_says() {
        assert_eq!(string_literal_len(r#""a\"b" c"#), 6);
        assert_eq!(string_literal_len("\"abc\ndef\""), 4, "a line ends an unclosed string");
        assert_eq!(string_literal_len(r#""""a \""" b""" c"#), 14);
        // Not a block string: async-graphql reads `""` and goes on.
        assert_eq!(string_literal_len("\"\"\"never closed"), 2);
    }

    #[test]
    fn brackets_after_an_unclosed_block_string_count() {
        // Found by fuzzing (docs/fuzzing.md): `"""` with no closing `"""`
        // was read as a string to the end of the text, while the parser
        // reads `""` and parses what follows, so the brackets after it
        // were not counted and nested values deep enough to overflow a
        // worker's stack got past the limit.
        let deep = format!(r#"{{ a(x: ["""", {}{}]) }}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(nesting(&deep, 40), 41);
        assert_eq!(nesting(r#"{ a(x: """") b { c } }"#, 40), 2);
        assert_eq!(nesting(r#"{ a(x: """ [[[ """) }"#, 40), 2, "a closed block string hides its brackets");
    }
}
