//! The client name filter, done the same way by every SQL backend.
//!
//! Backends store [`fold`] of each name beside it and match it with
//! `LIKE <like_contains(needle)> ESCAPE '\'`, so that the filter is
//! case-insensitive for every script (SQLite's own `lower()` and `LIKE` only
//! fold ASCII) and the operator's text is matched literally.

/// The searchable form of a name: Unicode lowercase.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// A `LIKE` pattern, for use with `ESCAPE '\'`, matching any folded text
/// that contains `needle` literally: `%`, `_` and `\` in it are escaped.
pub fn like_contains(needle: &str) -> String {
    let folded = fold(needle);
    let mut pattern = String::with_capacity(folded.len() + 2);
    pattern.push('%');
    for c in folded.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_character_are_escaped() {
        assert_eq!(like_contains("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_contains(""), "%%");
    }

    #[test]
    fn needle_is_folded_like_the_stored_names() {
        assert_eq!(like_contains("ÄrGer"), "%ärger%");
        assert_eq!(fold("CRM Sync"), "crm sync");
    }
}
