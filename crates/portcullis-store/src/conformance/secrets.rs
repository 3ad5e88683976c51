//! `ServerSecretStore`: first writer wins.

use crate::Stores;

pub async fn server_secret_round_trips(stores: &Stores) {
    assert_eq!(stores.secrets.get_server_secret("hash-key").await.unwrap(), None);
    let value: Vec<u8> = (0..=255).collect();
    let stored = stores.secrets.insert_server_secret_if_absent("hash-key", &value).await.unwrap();
    assert_eq!(stored, value);
    assert_eq!(stores.secrets.get_server_secret("hash-key").await.unwrap(), Some(value));
    assert_eq!(stores.secrets.get_server_secret("other").await.unwrap(), None);
}

pub async fn first_server_secret_wins(stores: &Stores) {
    let first = stores.secrets.insert_server_secret_if_absent("hash-key", b"first").await.unwrap();
    let second = stores.secrets.insert_server_secret_if_absent("hash-key", b"second").await.unwrap();
    assert_eq!(first, b"first");
    assert_eq!(second, b"first", "the stored value is returned, not the offered one");
    assert_eq!(stores.secrets.get_server_secret("hash-key").await.unwrap().as_deref(), Some(&b"first"[..]));
    // Names are independent.
    let other = stores.secrets.insert_server_secret_if_absent("other-key", b"other").await.unwrap();
    assert_eq!(other, b"other");
}

pub async fn racing_first_server_secrets_agree(stores: &Stores) {
    let s = &stores.secrets;
    let (a, b, c, d) = tokio::join!(
        s.insert_server_secret_if_absent("raced", b"a"),
        s.insert_server_secret_if_absent("raced", b"b"),
        s.insert_server_secret_if_absent("raced", b"c"),
        s.insert_server_secret_if_absent("raced", b"d"),
    );
    let (a, b, c, d) = (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap());
    assert!([&b"a"[..], b"b", b"c", b"d"].contains(&a.as_slice()));
    assert_eq!([&b, &c, &d], [&a, &a, &a], "every racer sees the one stored value");
    assert_eq!(stores.secrets.get_server_secret("raced").await.unwrap(), Some(a));
}
