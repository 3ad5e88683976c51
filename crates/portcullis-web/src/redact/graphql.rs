//! GraphQL documents as they are stored: read as text (a document that
//! does not parse is stored too, and must not keep its credentials either).

use portcullis_domain::credential::{REDACTED, redact_credential, scrub_text};

use super::is_sensitive;
use crate::graphql::text::string_literal_len;

/// A string literal's value with its escapes decoded (`"\u0070cs_…"` is
/// `pcs_…`), when it is an ordinary single-line literal that decodes.
fn decoded(literal: &str) -> Option<String> {
    if literal.starts_with("\"\"\"") {
        // Block strings have one escape (`\"""`), which hides nothing.
        return None;
    }
    // GraphQL's escapes are JSON's, but a GraphQL string may hold raw
    // control characters (a tab) that JSON refuses: escape them first, or
    // the string would not be decoded at all.
    if literal.contains(|c: char| c < ' ') {
        let json: String = literal
            .chars()
            .map(|c| if c < ' ' { format!("\\u{:04x}", u32::from(c)) } else { c.to_string() })
            .collect();
        return serde_json::from_str::<String>(&json).ok();
    }
    serde_json::from_str::<String>(literal).ok()
}

/// What a string literal becomes: `credential` says it was given to a
/// credential argument, `default` that it sits outside every selection set
/// (a variable's default value or an operation's directive argument).
fn literal(out: &mut String, literal: &str, credential: bool, default: bool) {
    let quotes = if literal.starts_with("\"\"\"") { "\"\"\"" } else { "\"" };
    if default {
        // Defaults are kept nowhere: a variable given to a credential
        // argument may be many steps away from its default, and no rule
        // that tries to follow it is as safe as not storing any.
        out.push_str(quotes);
        out.push_str(REDACTED);
        out.push_str(quotes);
    } else if credential {
        let raw = literal.strip_prefix(quotes).unwrap_or(literal);
        let raw = raw.strip_suffix(quotes).unwrap_or(raw);
        let value = decoded(literal).unwrap_or_else(|| raw.to_owned());
        out.push_str(quotes);
        out.push_str(&redact_credential(&value));
        out.push_str(quotes);
    } else if literal.contains('\\')
        && let Some(value) = decoded(literal)
        && let scrubbed = scrub_text(&value)
        && scrubbed != value
    {
        // An escaped credential in an ordinary string.
        out.push_str(&serde_json::Value::String(scrubbed.into_owned()).to_string());
    } else {
        out.push_str(literal);
    }
}

/// In a GraphQL document: a string literal given to an argument or input
/// field named like a credential (`password: "…"`), or anywhere in a list
/// or object given to one (`password: ["…"]`), becomes its stored form;
/// every string literal outside the selection sets (variables' default
/// values: `mutation($p: String = "…")`) becomes `[redacted]`;
/// credential-looking words anywhere (comments and escaped strings
/// included) become their markers; other strings are kept as they are.
/// Also returns the variables given to a credential field (`password: $pw`
/// → `pw`, `password: [$pw]` too), whose values are credentials whatever
/// their names.
pub(crate) fn scrub(doc: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(doc.len());
    let mut bound = Vec::new();
    // The last name read, while only `:` and blanks followed it.
    let mut name: Option<&str> = None;
    let mut colon = false;
    // How deep in selection sets (`{…}`) the scan is: 0 is outside them.
    let mut depth = 0usize;
    // Outside selection sets: open `(` (variable definitions, directive
    // arguments), and open `{` of object values within them.
    let (mut outer_parens, mut value_braces) = (0usize, 0usize);
    // Brackets open in a list or object given to a credential argument:
    // everything in it is a credential too.
    let mut credential_value = 0usize;
    let mut i = 0;
    while let Some(c) = doc[i..].chars().next() {
        let rest = &doc[i..];
        let len = if c == '#' {
            rest.find(['\n', '\r']).unwrap_or(rest.len())
        } else if c == '"' {
            let len = string_literal_len(rest);
            let credential = credential_value > 0 || (colon && name.is_some_and(is_sensitive));
            literal(&mut out, &rest[..len], credential, depth == 0);
            (name, colon) = (None, false);
            i += len;
            continue;
        } else if c == '_' || c.is_ascii_alphabetic() {
            let len = rest.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(rest.len());
            (name, colon) = (Some(&rest[..len]), false);
            len
        } else if c == '$' {
            let len = 1 + rest[1..]
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(rest.len() - 1);
            if (credential_value > 0 || (colon && name.is_some_and(is_sensitive))) && len > 1 {
                bound.push(rest[1..len].to_owned());
            }
            (name, colon) = (None, false);
            len
        } else {
            match c {
                '[' | '{' | '(' if credential_value > 0 => credential_value += 1,
                '[' | '{' if colon && name.is_some_and(is_sensitive) => credential_value = 1,
                ']' | '}' | ')' => credential_value = credential_value.saturating_sub(1),
                _ => {}
            }
            match c {
                ':' => colon = name.is_some() && !colon,
                '(' if depth == 0 => {
                    outer_parens += 1;
                    (name, colon) = (None, false);
                }
                ')' if depth == 0 => {
                    outer_parens = outer_parens.saturating_sub(1);
                    (name, colon) = (None, false);
                }
                '{' => {
                    if outer_parens > 0 {
                        value_braces += 1
                    } else {
                        depth += 1
                    }
                    (name, colon) = (None, false);
                }
                '}' => {
                    if value_braces > 0 {
                        value_braces -= 1
                    } else {
                        depth = depth.saturating_sub(1)
                    }
                    (name, colon) = (None, false);
                }
                c if c.is_whitespace() || c == ',' => {}
                _ => (name, colon) = (None, false),
            }
            c.len_utf8()
        };
        out.push_str(&rest[..len]);
        i += len;
    }
    let out = match scrub_text(&out) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(scrubbed) => scrubbed,
    };
    (out, bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ClientSecret;

    #[test]
    fn graphql_documents_lose_their_inline_credentials() {
        let doc = r#"mutation { createUser(input: {email: "a@b.c", password : "correct horse battery", name: "p\"w"}) { password }
            # password: "in a comment stays"
            updateUser(id: "1", input: {newPassword: """block
            secret value""", name: "password"}) { id } }"#;
        let (out, _) = scrub(doc);
        assert!(!out.contains("correct horse battery") && !out.contains("secret value"), "{out}");
        for kept in [
            "\"a@b.c\"",
            r#"name: "p\"w""#,
            r#"name: "password""#,
            "# password: \"in a comment stays\"",
            "{ password }",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
        assert!(out.contains(r#"password : "[redacted]""#), "{out}");
        // Unclosed strings and odd input end where the text does.
        for odd in ["password: \"abc", "password: \"\"\"abc", "password:", "ü: \"ä\"", "\"", "password: \"\\"]
        {
            let _ = scrub(odd);
        }
        assert_eq!(scrub("{ a(password: $x, token: $y2, name: $z) }").1, ["x", "y2"]);
    }

    #[test]
    fn escaped_credentials_are_decoded_before_they_are_judged() {
        let s = ClientSecret::generate();
        let escaped = format!("\\u0070{}", &s.expose()[1..]);
        let doc = format!(r#"{{ a(clientSecret: "{escaped}", note: "{escaped}") }}"#);
        let (out, _) = scrub(&doc);
        assert!(!out.contains(&s.expose()[1..]), "{out}");
        assert_eq!(out, format!(r#"{{ a(clientSecret: "{0}", note: "{0}") }}"#, s.hint()));
    }

    #[test]
    fn escaped_credentials_beside_raw_control_characters_are_decoded_too() {
        // Found by fuzzing (docs/fuzzing.md): GraphQL lets a string hold a
        // raw tab, JSON does not, so the JSON decoder gave up on the string
        // and its escaped secret was stored as it came.
        let s = ClientSecret::generate();
        let escaped = format!("\\u0070{}", &s.expose()[1..]);
        for control in ['\t', '\0', '\u{1f}'] {
            let doc = format!(r#"{{ a(note: "{escaped}{control}ok", clientSecret: "{escaped}{control}") }}"#);
            let (out, _) = scrub(&doc);
            assert!(!out.contains(&s.expose()[1..]), "{out}");
            let note = serde_json::Value::String(format!("{}{control}ok", s.hint())).to_string();
            assert!(out.contains(&format!("note: {note}")), "{out}");
        }
    }

    #[test]
    fn lists_and_objects_given_to_credential_arguments_lose_every_string() {
        // Caught by the redact_graphql fuzz target (docs/fuzzing.md): a
        // password sent in a list or an object (a validation error, but
        // recorded all the same) was stored as sent, and so was the value
        // of a variable in one.
        let doc = r#"{ a(password: ["hunter2hunter2", {x: "lantern orbit"}], token: [$t], name: ["kept"]) {
            b(input: {newPassword: {value: "meadow river"}, note: "kept too"}) { id } } }"#;
        let (out, bound) = scrub(doc);
        for gone in ["hunter2hunter2", "lantern orbit", "meadow river"] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert!(out.contains(r#"name: ["kept"]"#) && out.contains(r#"note: "kept too""#), "{out}");
        assert_eq!(bound, ["t"]);
    }

    #[test]
    fn an_unclosed_block_string_hides_nothing_after_it() {
        // Found by the redact_graphql fuzz target (docs/fuzzing.md): the
        // text reader took everything after a `"""` that is never closed for
        // one string, so `password: $p` after it went unseen and the value
        // of `$p` was stored; the parser reads `""` and goes on.
        let doc = r#"mutation($q: [String] = ["x", """y""{"], $p: String) { a(password: $p, token: "hunter2hunter2") }"#;
        let (out, bound) = scrub(doc);
        assert_eq!(bound, ["p"]);
        assert!(!out.contains("hunter2hunter2"), "{out}");
    }

    #[test]
    fn variable_default_values_are_never_kept() {
        let doc = r#"mutation M($p: String = "lantern orbit meadow", $q: [String] = ["x", """y"""], $n: Int = 3) @d(r: "z") {
            createUser(input: {email: "a@b.c", password: $p, name: "N"}) { id } }"#;
        let (out, bound) = scrub(doc);
        for gone in ["lantern orbit meadow", "\"x\"", "\"\"\"y\"\"\"", "\"z\""] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert!(out.contains(r#"$p: String = "[redacted]""#) && out.contains("$n: Int = 3"), "{out}");
        assert!(out.contains("\"a@b.c\"") && out.contains("\"N\""), "{out}");
        assert_eq!(bound, ["p"]);
        // Fragments and later operations are outside selection sets too.
        let (out, _) = scrub(r#"query A { a } query B($t: String = "hunter2hunter2") { b(token: $t) }"#);
        assert!(!out.contains("hunter2"), "{out}");
        // Object defaults, whatever their fields are called.
        let (out, _) = scrub(
            r#"mutation($i: In = {note: "hunter2hunter2", x: {y: "z"}}) { a(input: $i) { id(f: "kept") } }"#,
        );
        assert!(!out.contains("hunter2") && !out.contains("\"z\""), "{out}");
        assert!(out.contains("\"kept\""), "{out}");
    }

    #[test]
    fn whole_requests_lose_variables_bound_to_credentials() {
        let doc = "mutation($pw: String, $e: String!, $n: String) { createUser(input: {email: $e, password: $pw, name: $n}) { id } }";
        let body = serde_json::json!({"query": doc, "variables": {"pw": "lantern orbit meadow", "e": "a@b.c", "n": "N"}});
        let stored = super::super::body(body.to_string().as_bytes(), Some("application/json")).unwrap();
        assert!(
            !stored.contains("lantern orbit meadow") && stored.contains("\"pw\":\"[redacted]\""),
            "{stored}"
        );
        assert!(stored.contains("\"a@b.c\"") && stored.contains("\"N\""), "{stored}");
        let body = serde_json::json!({"query": "mutation { x }", "variables": {"input": {"password": "hunter2hunter2"}}});
        let stored = super::super::body(body.to_string().as_bytes(), Some("application/json")).unwrap();
        assert!(!stored.contains("hunter2hunter2"), "{stored}");
    }
}
