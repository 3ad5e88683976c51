//! Keyset pagination, the same for every list: newest first, an opaque
//! cursor `<micros>.<id>` (plain by construction, checked on the way back
//! in), and one row more than asked to learn whether a page follows.

use std::{fmt::Display, str::FromStr};

use portcullis_domain::Timestamp;

use crate::{Result, ServiceError};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// The page size asked for, within `1..=MAX_PAGE_SIZE`.
pub fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
}

pub(crate) fn decode_cursor<I: FromStr>(cursor: &str) -> Result<(Timestamp, I)> {
    let bad = || ServiceError::InvalidCursor;
    let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
    let at = Timestamp::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

fn encode_cursor(at: Timestamp, id: impl Display) -> String {
    format!("{}.{id}", at.timestamp_micros())
}

/// An item of a page, and the cursor that starts the page after it: what
/// Relay-style connections hand out per edge.
pub trait PageItem {
    fn cursor(&self) -> String;
}

impl PageItem for crate::ClientView {
    fn cursor(&self) -> String {
        encode_cursor(self.client.created_at, self.client.id)
    }
}

impl PageItem for crate::UserView {
    fn cursor(&self) -> String {
        encode_cursor(self.user.created_at, self.user.id)
    }
}

impl PageItem for portcullis_domain::Event {
    fn cursor(&self) -> String {
        encode_cursor(self.occurred_at, self.id)
    }
}

/// Cuts the `size + 1` rows fetched to `size` and makes the cursor of the
/// next page, if there is one.
pub(crate) fn finish<T, I: Display>(
    mut rows: Vec<T>,
    size: u32,
    key: impl Fn(&T) -> (Timestamp, I),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next = if more {
        rows.last().map(|r| {
            let (at, id) = key(r);
            encode_cursor(at, id)
        })
    } else {
        None
    };
    (rows, next)
}

/// A list's text filter: none when empty; refused when it holds a NUL byte
/// (no stored text holds one, and PostgreSQL refuses such text outright).
pub(crate) fn text_filter(
    field: &'static str,
    text: Option<String>,
) -> Result<Option<String>, crate::ServiceError> {
    match text {
        Some(t) if t.contains('\0') => Err(crate::ServiceError::NulInFilter(field)),
        Some(t) if t.is_empty() => Ok(None),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::{ClientId, now};

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let (at, id) = (now(), ClientId::generate());
        let (rows, next) = finish(vec![(at, id), (at, ClientId::generate())], 1, |r| (r.0, r.1));
        assert_eq!(rows.len(), 1);
        let decoded: (Timestamp, ClientId) = decode_cursor(&next.unwrap()).unwrap();
        assert_eq!(decoded, (at, id));
        assert_eq!(finish(vec![(at, id)], 1, |r| (r.0, r.1)).1, None, "no more rows, no cursor");
        for bad in [
            "",
            ".",
            "abc",
            "1.2",
            "x.6a2f41a3-c54c-4d2b-9a2d-1d6c9a1b2c3d",
            "99999999999999999999.6a2f41a3-c54c-4d2b-9a2d-1d6c9a1b2c3d",
        ] {
            assert!(matches!(decode_cursor::<ClientId>(bad), Err(ServiceError::InvalidCursor)), "{bad}");
        }
        let view = crate::UserView {
            user: portcullis_domain::User {
                id: portcullis_domain::UserId::generate(),
                email: portcullis_domain::Email::parse("a@example.com").unwrap(),
                name: portcullis_domain::UserName::parse("A").unwrap(),
                status: portcullis_domain::UserStatus::Enabled,
                roles: vec![],
                password_hash: None,
                created_at: at,
                updated_at: at,
                version: 1,
            },
            roles: vec![],
        };
        let (rows, next) = finish(vec![view.clone(), view.clone()], 1, |u| (u.user.created_at, u.user.id));
        assert_eq!(next.as_deref(), Some(rows[0].cursor().as_str()), "an item's cursor is the next page's");
        assert_eq!((page_size(None), page_size(Some(0)), page_size(Some(1000))), (50, 1, 200));
    }
}
