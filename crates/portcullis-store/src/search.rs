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

/// Needles shorter than this have no trigram: no index can name their rows.
pub const MIN_INDEXED_CHARS: usize = 3;

/// A case-sensitive `GLOB` pattern matching folded text that contains
/// `needle`, for a trigram index of the folded names; `None` when no
/// index can serve it (under [`MIN_INDEXED_CHARS`] characters, or holding
/// a `GLOB` wildcard, which would need escaping `GLOB` does not have).
pub fn trigram_glob(needle: &str) -> Option<String> {
    let folded = fold(needle);
    if folded.chars().count() < MIN_INDEXED_CHARS || folded.contains(['*', '?', '[', ']']) {
        return None;
    }
    Some(format!("*{folded}*"))
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
    fn only_needles_of_three_plain_characters_go_to_the_index() {
        assert_eq!(trigram_glob("CRM"), Some("*crm*".to_owned()));
        assert_eq!(trigram_glob("Äö"), None);
        assert_eq!(trigram_glob("a*b"), None);
        assert_eq!(trigram_glob("[ab]"), None);
        assert_eq!(trigram_glob("50%_off"), Some("*50%_off*".to_owned()));
    }

    #[test]
    fn needle_is_folded_like_the_stored_names() {
        assert_eq!(like_contains("ÄrGer"), "%ärger%");
        assert_eq!(fold("CRM Sync"), "crm sync");
    }
}
