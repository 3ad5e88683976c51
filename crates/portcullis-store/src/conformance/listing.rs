//! `ClientStore::list_clients`: keyset pagination and filters.

use std::cmp::Reverse;

use portcullis_domain::{ApiClient, ClientStatus};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{client_created_at, seconds_from_now};
use crate::{ClientCursor, ClientQuery, Stores};

fn query(limit: u32) -> ClientQuery {
    ClientQuery { limit, ..ClientQuery::default() }
}

fn named(name: &str) -> ClientQuery {
    ClientQuery { name_contains: Some(name.to_owned()), ..query(100) }
}

fn cursor_of(client: &ApiClient) -> ClientCursor {
    ClientCursor { created_at: client.created_at, id: client.id }
}

/// Newest first, ties broken by id, highest first.
fn newest_first(mut clients: Vec<ApiClient>) -> Vec<ApiClient> {
    clients.sort_by_key(|c| Reverse((c.created_at, c.id)));
    clients
}

async fn insert_all(stores: &Stores, clients: &[ApiClient]) {
    for c in clients {
        stores.clients.insert_client(c, &[]).await.unwrap();
    }
}

/// Follows cursors page by page until a short page, as the service does.
async fn all_pages(stores: &Stores, base: &ClientQuery) -> Vec<Vec<ApiClient>> {
    let mut pages = Vec::new();
    let mut q = base.clone();
    loop {
        let page = stores.clients.list_clients(&q).await.unwrap();
        assert!(page.len() <= q.limit as usize, "a page holds at most `limit` clients");
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

fn names(clients: &[ApiClient]) -> Vec<&str> {
    clients.iter().map(|c| c.name.as_str()).collect()
}

pub async fn list_of_empty_store_is_empty(stores: &Stores) {
    assert!(stores.clients.list_clients(&query(10)).await.unwrap().is_empty());
}

pub async fn list_pages_newest_first_without_gaps_or_duplicates(stores: &Stores) {
    // Three share one instant (a bulk import), two share another; inserted
    // out of order so that insertion order cannot pass for sorting.
    let tie = seconds_from_now(-50);
    let other_tie = seconds_from_now(-10);
    let clients = vec![
        client_created_at("c", seconds_from_now(-30)),
        client_created_at("tie 1", tie),
        client_created_at("newest", seconds_from_now(0)),
        client_created_at("tie 2", tie),
        client_created_at("oldest", seconds_from_now(-90)),
        client_created_at("other tie 1", other_tie),
        client_created_at("tie 3", tie),
        client_created_at("other tie 2", other_tie),
    ];
    insert_all(stores, &clients).await;
    let expected = newest_first(clients);

    for limit in [1, 2, 3, 8, 20] {
        let pages = all_pages(stores, &query(limit)).await;
        let seen: Vec<ApiClient> = pages.into_iter().flatten().collect();
        assert_eq!(names(&seen), names(&expected), "limit {limit}");
        assert_eq!(seen, expected, "limit {limit}: whole records");
    }

    // Exact page shapes with limit 3: 3, 3, 2, and nothing after the last one.
    let pages = all_pages(stores, &query(3)).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    let after_last = ClientQuery { after: Some(cursor_of(&expected[7])), ..query(3) };
    assert!(stores.clients.list_clients(&after_last).await.unwrap().is_empty());

    // The cursor is a position, not a row: it works after its row is deleted.
    stores.clients.delete_client(expected[2].id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted();
    let after_deleted = ClientQuery { after: Some(cursor_of(&expected[2])), ..query(100) };
    assert_eq!(stores.clients.list_clients(&after_deleted).await.unwrap(), expected[3..]);
}

pub async fn list_respects_the_limit(stores: &Stores) {
    let clients: Vec<ApiClient> =
        (0..5).map(|i| client_created_at(&format!("client {i}"), seconds_from_now(-i))).collect();
    insert_all(stores, &clients).await;
    assert!(stores.clients.list_clients(&query(0)).await.unwrap().is_empty());
    assert_eq!(stores.clients.list_clients(&query(1)).await.unwrap(), clients[..1]);
    assert_eq!(stores.clients.list_clients(&query(4)).await.unwrap(), clients[..4]);
    assert_eq!(stores.clients.list_clients(&query(5)).await.unwrap(), clients);
    assert_eq!(stores.clients.list_clients(&query(u32::MAX)).await.unwrap(), clients);
}

pub async fn list_filters_by_status(stores: &Stores) {
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = client_created_at(&format!("client {i}"), seconds_from_now(-i));
        if i % 2 == 1 {
            c.status = ClientStatus::Disabled;
        }
        clients.push(c);
    }
    insert_all(stores, &clients).await;
    for status in [ClientStatus::Enabled, ClientStatus::Disabled] {
        let expected: Vec<ApiClient> = clients.iter().filter(|c| c.status == status).cloned().collect();
        let q = ClientQuery { status: Some(status), ..query(2) };
        let seen: Vec<ApiClient> = all_pages(stores, &q).await.into_iter().flatten().collect();
        assert_eq!(seen, expected, "{status}");
    }
    assert_eq!(stores.clients.list_clients(&query(100)).await.unwrap(), clients, "no filter: all");
}

pub async fn list_filters_by_name_case_insensitively(stores: &Stores) {
    let all = ["CRM Sync", "crm backup", "Marketing site", "ÄRGER-Bot", "Straße Import"];
    let clients: Vec<ApiClient> =
        all.iter().enumerate().map(|(i, n)| client_created_at(n, seconds_from_now(-(i as i64)))).collect();
    insert_all(stores, &clients).await;
    let cases: &[(&str, &[&str])] = &[
        ("crm", &["CRM Sync", "crm backup"]),
        ("CRM SYNC", &["CRM Sync"]),
        ("Sync", &["CRM Sync"]),
        ("c", &["CRM Sync", "crm backup"]),
        ("ärger", &["ÄRGER-Bot"]),
        ("-bot", &["ÄRGER-Bot"]),
        ("straße", &["Straße Import"]),
        ("site ", &[]),
        (" ", &["CRM Sync", "crm backup", "Marketing site", "Straße Import"]),
        ("", &all),
        ("nothing like it", &[]),
    ];
    for (needle, expected) in cases {
        let got = stores.clients.list_clients(&named(needle)).await.unwrap();
        assert_eq!(names(&got), *expected, "name contains {needle:?}");
    }
}

pub async fn name_filter_matches_wildcards_literally(stores: &Stores) {
    let all = ["50% off", "500 off", "a_b", "axb", r"back\slash", "backslash", "quote's"];
    let clients: Vec<ApiClient> =
        all.iter().enumerate().map(|(i, n)| client_created_at(n, seconds_from_now(-(i as i64)))).collect();
    insert_all(stores, &clients).await;
    let cases: &[(&str, &[&str])] = &[
        ("%", &["50% off"]),
        ("0%", &["50% off"]),
        ("%%", &[]),
        ("_", &["a_b"]),
        ("a_b", &["a_b"]),
        ("a%b", &[]),
        (r"\", &[r"back\slash"]),
        (r"k\s", &[r"back\slash"]),
        (r"\%", &[]),
        ("'", &["quote's"]),
        ("[a-z]", &[]),
        ("*", &[]),
    ];
    for (needle, expected) in cases {
        let got = stores.clients.list_clients(&named(needle)).await.unwrap();
        assert_eq!(names(&got), *expected, "name contains {needle:?}");
    }
}

pub async fn filters_combine_with_each_other_and_the_cursor(stores: &Stores) {
    let mut clients = Vec::new();
    for i in 0..8 {
        let name = if i % 2 == 0 { format!("Billing {i}") } else { format!("Reporting {i}") };
        let mut c = client_created_at(&name, seconds_from_now(-i));
        if i % 4 < 2 {
            c.status = ClientStatus::Disabled;
        }
        clients.push(c);
    }
    insert_all(stores, &clients).await;
    let expected: Vec<&str> = clients
        .iter()
        .filter(|c| c.status == ClientStatus::Enabled && c.name.as_str().starts_with("Billing"))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(expected, ["Billing 2", "Billing 6"]);
    let q = ClientQuery {
        status: Some(ClientStatus::Enabled),
        name_contains: Some("BILL".to_owned()),
        ..query(1)
    };
    let pages = all_pages(stores, &q).await;
    let seen: Vec<ApiClient> = pages.into_iter().flatten().collect();
    assert_eq!(names(&seen), expected);

    // A cursor taken from an unfiltered listing works with filters too.
    let q = ClientQuery { after: Some(cursor_of(&clients[3])), ..q };
    let got = stores.clients.list_clients(&ClientQuery { limit: 10, ..q }).await.unwrap();
    assert_eq!(names(&got), ["Billing 6"]);
}

/// Whatever way a backend reads a name search (the newest rows in order, a
/// trigram index for a rare needle, a plain scan for a short one), pages
/// and their cursors give exactly the clients whose folded name contains
/// the folded needle, newest first.
pub async fn name_search_gives_the_same_clients_whichever_way_it_is_read(stores: &Stores) {
    let mut clients = Vec::new();
    for i in 0..120 {
        let name = match i % 40 {
            0 => format!("Zeta-Ärger {i}"),
            1 => format!("50%_off [promo] {i}"),
            2 => format!("a*b?c {i}"),
            _ => format!("billing client {i}"),
        };
        clients.push(client_created_at(&name, seconds_from_now(-(i64::from(i) * 7 % 113) - 1)));
    }
    insert_all(stores, &clients).await;
    let needles = [
        "zeta",
        "ZETA-är",
        "ärger",
        "billing",
        "CLIENT 1",
        "client 11",
        "50%_",
        "%_o",
        "[promo]",
        "a*b",
        "b?c",
        "ng",
        "z",
        "nobody here",
        "illi",
    ];
    for needle in needles {
        let folded = crate::search::fold(needle);
        let expected: Vec<ApiClient> = newest_first(
            clients
                .iter()
                .filter(|c| crate::search::fold(c.name.as_str()).contains(&folded))
                .cloned()
                .collect(),
        );
        for limit in [2, 50] {
            let pages =
                all_pages(stores, &ClientQuery { name_contains: Some(needle.to_owned()), ..query(limit) })
                    .await;
            let got: Vec<ApiClient> = pages.into_iter().flatten().collect();
            assert_eq!(names(&got), names(&expected), "needle {needle:?}, pages of {limit}");
        }
    }
}
