//! `UserStore`: single users in and out, with their roles.

use portcullis_domain::{
    ADMIN_ROLE_ID, Email, PasswordHash, RESOURCE_SERVER_ROLE_ID, RoleId, UserId, UserName, UserStatus,
    VIEWER_ROLE_ID,
};

use super::{
    sample_personal_token, sample_session, sample_user, seconds_from_now, sorted_ids, with_builtins,
};
use crate::{RoleHolders, StoreError, Stores};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

pub async fn insert_user_then_get_by_id_and_by_email(stores: &Stores) {
    with_builtins(stores).await;
    let mut user = sample_user("ada@example.com");
    // Listed out of id order, one twice: read back by id, once each.
    user.roles = vec![VIEWER_ROLE_ID, ADMIN_ROLE_ID, VIEWER_ROLE_ID];
    let bystander = sample_user("grace@example.com");
    stores.users.insert_user(&user, &[]).await.unwrap();
    stores.users.insert_user(&bystander, &[]).await.unwrap();

    let expected = {
        let mut u = user.clone();
        u.roles = vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID];
        u
    };
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(stores.users.get_user_by_email(&user.email).await.unwrap(), Some(expected.clone()));
    // The e-mail is normalised before it gets here; any spelling finds it.
    assert_eq!(stores.users.get_user_by_email(&email("  ADA@Example.COM")).await.unwrap(), Some(expected));
    assert_eq!(stores.users.get_user_by_email(&bystander.email).await.unwrap(), Some(bystander));

    assert_eq!(stores.users.get_user(UserId::generate()).await.unwrap(), None);
    assert_eq!(stores.users.get_user_by_email(&email("ada@example.org")).await.unwrap(), None);
    assert_eq!(stores.users.get_user_by_email(&email("da@example.com")).await.unwrap(), None);
    assert_eq!(
        stores.users.get_user_by_email(&email("_da@example.com")).await.unwrap(),
        None,
        "no wildcards"
    );
}

pub async fn user_without_password_or_roles_round_trips(stores: &Stores) {
    let mut user = sample_user("new@example.com");
    user.password_hash = None;
    user.roles = Vec::new();
    user.status = UserStatus::Disabled;
    stores.users.insert_user(&user, &[]).await.unwrap();
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(stores.users.get_user_by_email(&user.email).await.unwrap(), Some(user));
}

pub async fn longest_and_non_ascii_user_values_round_trip(stores: &Stores) {
    with_builtins(stores).await;
    let mut user = sample_user(&format!("{}@{}.example.com", "l".repeat(64), "d".repeat(177)));
    assert_eq!(user.email.as_str().len(), 254);
    user.name = UserName::parse(&"é🦀".repeat(100)).unwrap();
    user.password_hash =
        Some(PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1${}", "ß".repeat(300))));
    user.roles = sorted_ids(vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID, RESOURCE_SERVER_ROLE_ID]);
    // Distinct instants, each with a non-zero microsecond part.
    user.created_at = seconds_from_now(-86_400 * 400);
    user.updated_at = seconds_from_now(-5);
    stores.users.insert_user(&user, &[]).await.unwrap();
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user.clone()));

    let quoted = sample_user("o'brien+tag@xn--mnchen-3ya.example");
    stores.users.insert_user(&quoted, &[]).await.unwrap();
    assert_eq!(stores.users.get_user_by_email(&quoted.email).await.unwrap(), Some(quoted));
    let unicode = sample_user("JÖRG@Straße.example");
    assert_eq!(unicode.email.as_str(), "jörg@straße.example");
    stores.users.insert_user(&unicode, &[]).await.unwrap();
    assert_eq!(stores.users.get_user_by_email(&email("Jörg@STRASSE.example")).await.unwrap(), None);
    assert_eq!(stores.users.get_user_by_email(&email("jÖrg@straße.example")).await.unwrap(), Some(unicode));
}

pub async fn duplicate_user_email_or_id_is_a_conflict(stores: &Stores) {
    let first = sample_user("ada@example.com");
    stores.users.insert_user(&first, &[]).await.unwrap();

    let mut same_email = sample_user("ADA@example.com");
    same_email.name = UserName::parse("Someone Else").unwrap();
    let err = stores.users.insert_user(&same_email, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user_email_unique")), "{err:?}");
    assert_eq!(stores.users.get_user(same_email.id).await.unwrap(), None);

    let mut same_id = sample_user("grace@example.com");
    same_id.id = first.id;
    let err = stores.users.insert_user(&same_id, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user_id_unique")), "{err:?}");
    assert_eq!(stores.users.get_user_by_email(&same_id.email).await.unwrap(), None);

    // (An update cannot change the e-mail: `UserPatch` has no such field.)
    let other = sample_user("grace@example.com");
    stores.users.insert_user(&other, &[]).await.unwrap();
    assert_eq!(stores.users.count_users().await.unwrap(), 2);
}

pub async fn unknown_user_role_is_a_conflict(stores: &Stores) {
    with_builtins(stores).await;
    let mut user = sample_user("ada@example.com");
    user.roles = vec![ADMIN_ROLE_ID, RoleId::generate()];
    let err = stores.users.insert_user(&user, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user_role_missing")), "{err:?}");
    // All or nothing: neither the user nor its known role is stored.
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), None);
    assert_eq!(stores.users.get_user_by_email(&user.email).await.unwrap(), None);
    assert_eq!(stores.roles.role_holders(ADMIN_ROLE_ID).await.unwrap(), RoleHolders::default());
    assert_eq!(stores.users.count_users().await.unwrap(), 0);

    user.roles = vec![ADMIN_ROLE_ID];
    stores.users.insert_user(&user, &[]).await.unwrap();
    let mut changed = user.clone();
    changed.roles = sorted_ids(vec![VIEWER_ROLE_ID, RoleId::generate()]);
    changed.name = UserName::parse("renamed in the same update").unwrap();
    let err = super::put_user(&*stores.users, &changed).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user_role_missing")), "{err:?}");
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user), "nothing changed");
}

pub async fn update_user_writes_every_field_and_replaces_roles(stores: &Stores) {
    with_builtins(stores).await;
    let mut original = sample_user("ada@example.com");
    original.roles = sorted_ids(vec![ADMIN_ROLE_ID, VIEWER_ROLE_ID]);
    let mut bystander = sample_user("grace@example.com");
    bystander.roles = vec![ADMIN_ROLE_ID];
    stores.users.insert_user(&original, &[]).await.unwrap();
    stores.users.insert_user(&bystander, &[]).await.unwrap();

    // One role kept, one dropped, one added.
    let mut changed = original.clone();
    changed.name = UserName::parse("Augusta Ada King").unwrap();
    changed.status = UserStatus::Disabled;
    changed.roles = sorted_ids(vec![VIEWER_ROLE_ID, RESOURCE_SERVER_ROLE_ID]);
    changed.password_hash = Some(PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$new".to_owned()));
    changed.updated_at = seconds_from_now(10);
    assert!(super::put_user(&*stores.users, &changed).await.unwrap());
    changed.version = 2;
    assert_eq!(stores.users.get_user(changed.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(stores.users.get_user_by_email(&changed.email).await.unwrap(), Some(changed.clone()));

    // And to no roles (a password hash is written only when set: an update
    // never clears it); the creation time is not a mutable field.
    changed.roles = Vec::new();
    changed.status = UserStatus::Enabled;
    let mut with_other_created_at = changed.clone();
    with_other_created_at.created_at = seconds_from_now(-3600);
    assert!(super::put_user(&*stores.users, &with_other_created_at).await.unwrap());
    changed.version = 3;
    assert_eq!(stores.users.get_user(changed.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(stores.roles.role_holders(VIEWER_ROLE_ID).await.unwrap(), RoleHolders::default());

    assert_eq!(stores.users.get_user(bystander.id).await.unwrap(), Some(bystander));
}

pub async fn update_unknown_user_returns_false(stores: &Stores) {
    with_builtins(stores).await;
    let mut user = sample_user("never@example.com");
    user.roles = vec![ADMIN_ROLE_ID];
    assert!(!super::put_user(&*stores.users, &user).await.unwrap());
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), None, "update must not insert");
    assert_eq!(stores.roles.role_holders(ADMIN_ROLE_ID).await.unwrap(), RoleHolders::default());
}

pub async fn delete_user_cascades_roles_sessions_and_token(stores: &Stores) {
    with_builtins(stores).await;
    let mut doomed = sample_user("doomed@example.com");
    doomed.roles = vec![ADMIN_ROLE_ID];
    let mut kept = sample_user("kept@example.com");
    kept.roles = vec![ADMIN_ROLE_ID];
    stores.users.insert_user(&doomed, &[]).await.unwrap();
    stores.users.insert_user(&kept, &[]).await.unwrap();
    let (doomed_session, other_doomed_session, kept_session) =
        (sample_session(doomed.id), sample_session(doomed.id), sample_session(kept.id));
    for s in [&doomed_session, &other_doomed_session, &kept_session] {
        stores.users.insert_session(s).await.unwrap();
    }
    let (doomed_token, kept_token) = (sample_personal_token(doomed.id), sample_personal_token(kept.id));
    stores.users.replace_personal_token(&doomed_token, &[]).await.unwrap();
    stores.users.replace_personal_token(&kept_token, &[]).await.unwrap();

    assert!(super::drop_user(&*stores.users, doomed.id).await.unwrap());
    assert_eq!(stores.users.get_user(doomed.id).await.unwrap(), None);
    assert_eq!(stores.users.get_user_by_email(&doomed.email).await.unwrap(), None);
    assert_eq!(stores.users.get_session(&doomed_session.id_hash).await.unwrap(), None);
    assert_eq!(stores.users.get_session(&other_doomed_session.id_hash).await.unwrap(), None);
    assert_eq!(stores.users.get_personal_token_by_hash(&doomed_token.hash).await.unwrap(), None);
    assert_eq!(stores.users.get_user_personal_token(doomed.id).await.unwrap(), None);
    let holders = stores.roles.role_holders(ADMIN_ROLE_ID).await.unwrap();
    assert_eq!(holders.users, [kept.id], "its roles went with it");

    // The other user keeps everything.
    assert_eq!(stores.users.get_user(kept.id).await.unwrap(), Some(kept.clone()));
    assert_eq!(stores.users.get_session(&kept_session.id_hash).await.unwrap(), Some(kept_session));
    assert_eq!(stores.users.get_user_personal_token(kept.id).await.unwrap(), Some(kept_token));

    assert!(!super::drop_user(&*stores.users, doomed.id).await.unwrap(), "a second delete finds nothing");
    assert!(!super::drop_user(&*stores.users, UserId::generate()).await.unwrap());
    // The e-mail is free again.
    stores.users.insert_user(&sample_user("doomed@example.com"), &[]).await.unwrap();
}

pub async fn count_users_counts_every_user(stores: &Stores) {
    assert_eq!(stores.users.count_users().await.unwrap(), 0);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut u = sample_user(&format!("user{i}@example.com"));
        if i % 2 == 0 {
            u.status = UserStatus::Disabled;
        }
        stores.users.insert_user(&u, &[]).await.unwrap();
        ids.push(u.id);
    }
    assert_eq!(stores.users.count_users().await.unwrap(), 5, "disabled users count too");
    assert!(super::drop_user(&*stores.users, ids[0]).await.unwrap());
    assert_eq!(stores.users.count_users().await.unwrap(), 4);
}
