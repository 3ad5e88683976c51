use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::Serialize;

use crate::DomainError;

/// A permission name, `category:action` (e.g. `clients:write`, `invoices:read`).
/// It is what a token carries as an OAuth2 scope token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PermissionName(String);

fn is_part(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.'))
}

impl PermissionName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.len() > Self::MAX_LEN {
            return Err(DomainError::InvalidPermission);
        }
        match s.split_once(':') {
            Some((category, action)) if is_part(category) && is_part(action) => Ok(Self(s.to_owned())),
            _ => Err(DomainError::InvalidPermission),
        }
    }

    /// A built-in permission's name: well formed by construction (the
    /// built-ins' unit test parses every one).
    pub(crate) fn builtin(s: &'static str) -> Self {
        Self(s.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn category(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(c, _)| c)
    }

    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, a)| a)
    }
}

impl FromStr for PermissionName {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PermissionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission with its description, as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub name: PermissionName,
    pub description: String,
    pub builtin: bool,
}

/// A set of permissions as carried by a token (RFC 6749 §3.3: space-delimited,
/// order does not matter, duplicates mean nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<PermissionName>);

impl Scope {
    /// Parses a `scope` parameter. Every token must be a well-formed
    /// permission name; runs of spaces are tolerated.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| PermissionName::parse(t).map_err(|_| DomainError::InvalidScope))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, p: &PermissionName) -> bool {
        self.0.contains(p)
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PermissionName> {
        self.0.iter()
    }
}

impl FromIterator<PermissionName> for Scope {
    fn from_iter<T: IntoIterator<Item = PermissionName>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(p.as_str())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn permission_names() {
        let p = PermissionName::parse("invoices:read").unwrap();
        assert_eq!((p.category(), p.action()), ("invoices", "read"));
        for ok in ["a:b", "billing-v2:export.csv", "x1:y_2"] {
            assert!(PermissionName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "invoices", "Invoices:read", ":read", "invoices:", "a:b:c", "1a:b", "a b:c", "é:x"] {
            assert_eq!(PermissionName::parse(bad), Err(DomainError::InvalidPermission), "{bad}");
        }
        assert!(PermissionName::parse(&format!("a:{}", "b".repeat(98))).is_ok());
        assert!(PermissionName::parse(&format!("a:{}", "b".repeat(99))).is_err());
    }

    #[test]
    fn scope_is_a_set() {
        let s = Scope::parse("clients:write  clients:read clients:write").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.to_string(), "clients:read clients:write");
        assert!(Scope::parse("").unwrap().is_empty());
        assert_eq!(Scope::parse("clients:read \"x\""), Err(DomainError::InvalidScope));
    }

    #[test]
    fn subset() {
        let all = Scope::parse("a:r a:w b:r").unwrap();
        assert!(Scope::parse("a:w").unwrap().is_subset(&all));
        assert!(!Scope::parse("a:w c:r").unwrap().is_subset(&all));
    }

    proptest! {
        #[test]
        fn scope_display_parses_back(names in proptest::collection::vec("[a-z][a-z0-9]{0,5}:[a-z][a-z0-9]{0,5}", 0..6)) {
            let s = Scope::parse(&names.join(" ")).unwrap();
            prop_assert_eq!(Scope::parse(&s.to_string()).unwrap(), s);
        }

        #[test]
        fn scope_parse_never_panics(s in "\\PC{0,120}") {
            let _ = Scope::parse(&s);
        }
    }
}
