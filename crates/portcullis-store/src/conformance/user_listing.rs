//! `UserStore::list_users`: keyset pagination and filters, as for clients.

use std::cmp::Reverse;

use portcullis_domain::{ADMIN_ROLE_ID, User, UserStatus, VIEWER_ROLE_ID};

use super::{seconds_from_now, sorted_ids, user_created_at, with_builtins};
use crate::{Stores, UserCursor, UserQuery};

fn query(limit: u32) -> UserQuery {
    UserQuery { limit, ..UserQuery::default() }
}

fn text(needle: &str) -> UserQuery {
    UserQuery { text: Some(needle.to_owned()), ..query(100) }
}

fn cursor_of(user: &User) -> UserCursor {
    UserCursor { created_at: user.created_at, id: user.id }
}

/// Newest first, ties broken by id, highest first.
fn newest_first(mut users: Vec<User>) -> Vec<User> {
    users.sort_by_key(|u| Reverse((u.created_at, u.id)));
    users
}

/// A user whose e-mail is derived from the name, created `age` seconds ago.
fn user(name: &str, age: i64) -> User {
    let local: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    user_created_at(
        &format!("{local}.{}@example.com", uuid::Uuid::new_v4().simple()),
        name,
        seconds_from_now(-age),
    )
}

async fn insert_all(stores: &Stores, users: &[User]) {
    for u in users {
        stores.users.insert_user(u, &[]).await.unwrap();
    }
}

/// Follows cursors page by page until a short page, as the service does.
async fn all_pages(stores: &Stores, base: &UserQuery) -> Vec<Vec<User>> {
    let mut pages = Vec::new();
    let mut q = base.clone();
    loop {
        let page = stores.users.list_users(&q).await.unwrap();
        assert!(page.len() <= q.limit as usize, "a page holds at most `limit` users");
        let last = page.last().map(cursor_of);
        let short = page.len() < q.limit as usize;
        pages.push(page);
        match last {
            Some(cursor) if !short => q.after = Some(cursor),
            _ => return pages,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

pub async fn list_users_of_empty_store_is_empty(stores: &Stores) {
    assert!(stores.users.list_users(&query(10)).await.unwrap().is_empty());
    assert!(stores.users.list_users(&text("a")).await.unwrap().is_empty());
}

pub async fn list_users_pages_newest_first_without_gaps_or_duplicates(stores: &Stores) {
    with_builtins(stores).await;
    // Three share one instant (a bulk import), two another; inserted out of
    // order so that insertion order cannot pass for sorting. Some have roles,
    // which must not multiply or drop rows.
    let tie = seconds_from_now(-50);
    let other_tie = seconds_from_now(-10);
    let mut users = vec![
        user("c", 30),
        user_created_at("tie1@example.com", "tie 1", tie),
        user("newest", 0),
        user_created_at("tie2@example.com", "tie 2", tie),
        user("oldest", 90),
        user_created_at("other1@example.com", "other tie 1", other_tie),
        user_created_at("tie3@example.com", "tie 3", tie),
        user_created_at("other2@example.com", "other tie 2", other_tie),
    ];
    users[1].roles = sorted_ids(vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID]);
    users[2].roles = vec![VIEWER_ROLE_ID];
    users[6].roles = sorted_ids(vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID]);
    insert_all(stores, &users).await;
    let expected = newest_first(users);

    for limit in [1, 2, 3, 8, 20] {
        let pages = all_pages(stores, &query(limit)).await;
        let seen: Vec<User> = pages.into_iter().flatten().collect();
        assert_eq!(names(&seen), names(&expected), "limit {limit}");
        assert_eq!(seen, expected, "limit {limit}: whole records");
    }

    let pages = all_pages(stores, &query(3)).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    let after_last = UserQuery { after: Some(cursor_of(&expected[7])), ..query(3) };
    assert!(stores.users.list_users(&after_last).await.unwrap().is_empty());

    // The cursor is a position, not a row: it works after its row is deleted.
    super::drop_user(&*stores.users, expected[2].id).await.unwrap();
    let after_deleted = UserQuery { after: Some(cursor_of(&expected[2])), ..query(100) };
    assert_eq!(stores.users.list_users(&after_deleted).await.unwrap(), expected[3..]);
}

pub async fn list_users_respects_the_limit(stores: &Stores) {
    let users: Vec<User> = (0..5).map(|i| user(&format!("user {i}"), i)).collect();
    insert_all(stores, &users).await;
    assert!(stores.users.list_users(&query(0)).await.unwrap().is_empty());
    assert_eq!(stores.users.list_users(&query(1)).await.unwrap(), users[..1]);
    assert_eq!(stores.users.list_users(&query(4)).await.unwrap(), users[..4]);
    assert_eq!(stores.users.list_users(&query(5)).await.unwrap(), users);
    assert_eq!(stores.users.list_users(&query(u32::MAX)).await.unwrap(), users);
}

pub async fn list_users_filters_by_status(stores: &Stores) {
    let mut users = Vec::new();
    for i in 0..6 {
        let mut u = user(&format!("user {i}"), i);
        if i % 2 == 1 {
            u.status = UserStatus::Disabled;
        }
        users.push(u);
    }
    insert_all(stores, &users).await;
    for status in [UserStatus::Enabled, UserStatus::Disabled] {
        let expected: Vec<User> = users.iter().filter(|u| u.status == status).cloned().collect();
        let q = UserQuery { status: Some(status), ..query(2) };
        let seen: Vec<User> = all_pages(stores, &q).await.into_iter().flatten().collect();
        assert_eq!(seen, expected, "{status:?}");
    }
    assert_eq!(stores.users.list_users(&query(100)).await.unwrap(), users, "no filter: all");
}

pub async fn list_users_filters_by_email_or_name_case_insensitively(stores: &Stores) {
    let all = [
        ("ada@lovelace.example", "Ada Lovelace"),
        ("grace@navy.example", "Grace Hopper"),
        ("ÄRGER@bot.example", "Bot"),
        ("margaret@nasa.example", "Margaret Hamilton"),
        ("strasse@import.example", "Straße Import"),
    ];
    let users: Vec<User> = all
        .iter()
        .enumerate()
        .map(|(i, (e, n))| user_created_at(e, n, seconds_from_now(-(i as i64))))
        .collect();
    insert_all(stores, &users).await;
    let cases: &[(&str, &[&str])] = &[
        // In the name only, in the e-mail only, in both.
        ("hopper", &["Grace Hopper"]),
        ("NAVY", &["Grace Hopper"]),
        ("ada", &["Ada Lovelace"]),
        ("lovelace", &["Ada Lovelace"]),
        ("@", &["Ada Lovelace", "Grace Hopper", "Bot", "Margaret Hamilton", "Straße Import"]),
        ("ärger", &["Bot"]),
        ("Ärger@", &["Bot"]),
        ("straße", &["Straße Import"]),
        ("strasse", &["Straße Import"]),
        ("ma", &["Margaret Hamilton"]),
        ("t h", &["Margaret Hamilton"]),
        (".example", &["Ada Lovelace", "Grace Hopper", "Bot", "Margaret Hamilton", "Straße Import"]),
        ("hamilton@", &[]),
        ("", &["Ada Lovelace", "Grace Hopper", "Bot", "Margaret Hamilton", "Straße Import"]),
        ("nothing like it", &[]),
    ];
    for (needle, expected) in cases {
        let got = stores.users.list_users(&text(needle)).await.unwrap();
        assert_eq!(names(&got), *expected, "text contains {needle:?}");
    }
}

pub async fn user_text_filter_matches_wildcards_literally(stores: &Stores) {
    let all = [
        ("fifty@example.com", "50% off"),
        ("five@example.com", "500 off"),
        ("a_b@example.com", "underscore"),
        ("axb@example.com", "no underscore"),
        ("back@example.com", r"back\slash"),
        ("quote@example.com", "quote's"),
    ];
    let users: Vec<User> = all
        .iter()
        .enumerate()
        .map(|(i, (e, n))| user_created_at(e, n, seconds_from_now(-(i as i64))))
        .collect();
    insert_all(stores, &users).await;
    let cases: &[(&str, &[&str])] = &[
        ("%", &["50% off"]),
        ("0%", &["50% off"]),
        ("%%", &[]),
        ("_", &["underscore"]),
        ("a_b", &["underscore"]),
        ("a%b", &[]),
        (r"\", &[r"back\slash"]),
        (r"k\s", &[r"back\slash"]),
        ("'", &["quote's"]),
        ("[a-z]", &[]),
        ("*", &[]),
    ];
    for (needle, expected) in cases {
        let got = stores.users.list_users(&text(needle)).await.unwrap();
        assert_eq!(names(&got), *expected, "text contains {needle:?}");
    }
}

pub async fn user_filters_combine_with_each_other_and_the_cursor(stores: &Stores) {
    let mut users = Vec::new();
    for i in 0..8 {
        let name = if i % 2 == 0 { format!("Billing {i}") } else { format!("Reporting {i}") };
        let mut u = user(&name, i);
        if i % 4 < 2 {
            u.status = UserStatus::Disabled;
        }
        users.push(u);
    }
    insert_all(stores, &users).await;
    let expected: Vec<&str> = users
        .iter()
        .filter(|u| u.status == UserStatus::Enabled && u.name.as_str().starts_with("Billing"))
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(expected, ["Billing 2", "Billing 6"]);
    let q = UserQuery { status: Some(UserStatus::Enabled), text: Some("BILL".to_owned()), ..query(1) };
    let seen: Vec<User> = all_pages(stores, &q).await.into_iter().flatten().collect();
    assert_eq!(names(&seen), expected);

    // A cursor taken from an unfiltered listing works with filters too.
    let q = UserQuery { after: Some(cursor_of(&users[3])), limit: 10, ..q };
    let got = stores.users.list_users(&q).await.unwrap();
    assert_eq!(names(&got), ["Billing 6"]);
}
