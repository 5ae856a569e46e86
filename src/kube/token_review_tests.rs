use super::*;
use k8s_openapi::api::authentication::v1::UserInfo;

fn jitpe() -> Vec<String> {
    vec!["jitpe".to_string()]
}

fn token() -> Secret {
    Secret::new("eyJhbGciOi.secret-part.sig")
}

fn status(authenticated: bool, audiences: Option<&[&str]>) -> TokenReviewStatus {
    TokenReviewStatus {
        authenticated: Some(authenticated),
        audiences: audiences.map(|a| a.iter().map(|s| s.to_string()).collect()),
        error: None,
        user: Some(UserInfo {
            username: Some("system:serviceaccount:ci:deployer".into()),
            uid: Some("0d3c-uid".into()),
            groups: Some(vec!["system:serviceaccounts".into()]),
            extra: None,
        }),
    }
}

#[test]
fn an_authenticated_token_for_the_audience_names_its_user_and_uid() {
    let got = judge(
        Some(status(true, Some(&["other", "jitpe"]))),
        &jitpe(),
        &token(),
    )
    .unwrap();
    assert_eq!(got.username, "system:serviceaccount:ci:deployer");
    assert_eq!(got.uid, "0d3c-uid");
    assert_eq!(got.groups, ["system:serviceaccounts"]);
    assert_eq!(
        got.audiences,
        ["jitpe"],
        "only the requested audiences are confirmed"
    );
}

#[test]
fn no_confirmed_audience_is_a_refusal_even_when_authenticated() {
    for audiences in [None, Some(&[][..]), Some(&["kubernetes"][..])] {
        let got = judge(Some(status(true, audiences)), &jitpe(), &token());
        assert!(
            matches!(got, Err(TokenError::Refused(_))),
            "{audiences:?}: {got:?}"
        );
    }
}

#[test]
fn an_error_or_no_authentication_is_a_refusal() {
    let mut with_error = status(true, Some(&["jitpe"]));
    with_error.error = Some("service account token has expired".into());
    let got = judge(Some(with_error), &jitpe(), &token());
    assert_eq!(
        got,
        Err(TokenError::Refused(
            "service account token has expired".into()
        ))
    );
    let got = judge(Some(status(false, Some(&["jitpe"]))), &jitpe(), &token());
    assert!(matches!(got, Err(TokenError::Refused(_))), "{got:?}");
    let got = judge(None, &jitpe(), &token());
    assert!(matches!(got, Err(TokenError::Refused(_))), "{got:?}");
}

#[test]
fn an_authenticated_token_without_a_user_name_is_refused() {
    let mut s = status(true, Some(&["jitpe"]));
    s.user = None;
    assert!(matches!(
        judge(Some(s), &jitpe(), &token()),
        Err(TokenError::Refused(_))
    ));
}

#[test]
fn an_echoed_token_never_reaches_the_error() {
    let mut s = status(false, None);
    s.error = Some(format!("invalid bearer token {}", token().expose()));
    let got = judge(Some(s), &jitpe(), &token()).unwrap_err();
    let text = format!("{got} {got:?}");
    assert!(!text.contains("secret-part"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[test]
fn empty_or_huge_tokens_are_refused_and_no_audience_is_a_failure_to_ask() {
    let refused = |t: &str| precheck(&Secret::new(t), &jitpe());
    assert!(matches!(refused(""), Err(TokenError::Refused(_))));
    assert!(matches!(refused("  "), Err(TokenError::Refused(_))));
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert!(matches!(refused(&huge), Err(TokenError::Refused(_))));
    assert_eq!(refused("abc"), Ok(()));
    for audiences in [vec![], vec![String::new()]] {
        let got = precheck(&token(), &audiences);
        assert!(matches!(got, Err(TokenError::Unavailable(_))), "{got:?}");
    }
}
