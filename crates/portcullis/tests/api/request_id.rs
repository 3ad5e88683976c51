//! Issue 11 §5: a client's `X-Request-Id` is echoed only when short and
//! plain; anything else is replaced by a fresh id.

use portcullis_testkit::spawn_app;

#[tokio::test]
async fn plain_request_ids_are_kept_and_others_replaced() {
    let app = spawn_app().await;
    let get = |id: Option<String>| {
        let mut request = app.http.get(app.url("/.well-known/jwks.json"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    for plain in ["abc-123_X.y".to_owned(), "a".repeat(64)] {
        let response = get(Some(plain.clone())).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], plain.as_str());
    }
    for odd in [
        "a".repeat(65),
        r#"x" level=ERROR msg="forged"#.to_owned(),
        "two words".to_owned(),
        "semi;colon".to_owned(),
    ] {
        let response = get(Some(odd.clone())).await.unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, odd);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "a fresh id replaces {odd:?}: {echoed}");
    }
    let response = get(None).await.unwrap();
    assert!(uuid::Uuid::parse_str(response.headers()["x-request-id"].to_str().unwrap()).is_ok());
}
