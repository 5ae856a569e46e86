//! The token port on the real test apiserver, as jitpe's own identity with the shipped RBAC:
//! a TokenRequest token for a ServiceAccount the test creates is accepted as that account; a
//! token for another audience, an expired one, one signed by another key, garbage and the
//! token of a deleted ServiceAccount are refused; a failure to ask is told apart from a refusal.
//! Expired and forged tokens are signed here with the apiserver's own key (and, as a control,
//! a valid one signed the same way is accepted, so the refusals are the apiserver's judgement
//! of exactly what was changed).

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::kube::{Access, Who, cluster};
use jitpe::config::Secret;
use jitpe::kube::token_review::{KubeTokenReviewer, LazyKubeTokenReviewer};
use jitpe::ports::{Clock, Reviewed, TokenError, TokenReviewer};
use jitpe::service::tokens::{CacheLimits, CachedTokenReviewer, DEFAULT_POSITIVE_TTL};
use jitpe::testing::ManualClock;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const AUDIENCE: &str = "jitpe";

fn audiences() -> Vec<String> {
    vec![AUDIENCE.to_string()]
}

/// The shipped RBAC applied, and settled: jitpe may create TokenReviews.
async fn jitpe_reviewer() -> KubeTokenReviewer {
    let c = cluster();
    common::manifests::apply_rbac(&c.client(Who::Admin)).await;
    let review = Access::new(
        Who::Jitpe,
        "create",
        "authentication.k8s.io",
        "tokenreviews",
    );
    c.eventually_sar(&review, true).await;
    KubeTokenReviewer::new(c.client(Who::Jitpe))
}

/// A new ServiceAccount in a new namespace: `(namespace, name, uid)`.
async fn service_account() -> (String, String, String) {
    let c = cluster();
    let ns = c.temp_namespace("tokens").await;
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("deployer".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    let created = Api::<ServiceAccount>::namespaced(c.client(Who::Admin), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("creating the ServiceAccount");
    let uid = created.metadata.uid.expect("a created object has a uid");
    (ns, "deployer".into(), uid)
}

/// A token from the TokenRequest API (as the admin) for `audiences` (none: the apiserver's).
async fn token_request(ns: &str, name: &str, audiences: &[&str]) -> Secret {
    Secret::new(cluster().service_account_token(ns, name, audiences).await)
}

/// Asserts a refusal whose reason (the apiserver's, or the adapter's) contains `because`, so
/// each case is refused for the reason it tests.
fn refused(got: &Result<Reviewed, TokenError>, what: &str, because: &str) {
    match got {
        Err(TokenError::Refused(reason)) => {
            assert!(reason.contains(because), "{what}: refused for {reason:?}")
        }
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_request_token_for_jitpe_is_accepted_as_its_service_account() {
    let reviewer = jitpe_reviewer().await;
    let (ns, name, uid) = service_account().await;
    let token = token_request(&ns, &name, &[AUDIENCE]).await;
    let got = reviewer
        .review(&token, &audiences())
        .await
        .expect("accepted");
    assert_eq!(got.username, format!("system:serviceaccount:{ns}:{name}"));
    assert_eq!(got.uid, uid, "the ServiceAccount's immutable uid");
    assert!(
        got.groups.contains(&format!("system:serviceaccounts:{ns}")),
        "{:?}",
        got.groups
    );
    assert_eq!(got.audiences, audiences());
}

#[tokio::test]
async fn tokens_for_another_audience_or_the_apiservers_own_are_refused() {
    let reviewer = jitpe_reviewer().await;
    let (ns, name, _) = service_account().await;
    let other = token_request(&ns, &name, &["vault"]).await;
    refused(
        &reviewer.review(&other, &audiences()).await,
        "audience vault",
        "is invalid for the target audiences",
    );
    // No audience: the apiserver's own (its issuer), which a stolen jitpe-bound token is not.
    let apiserver = token_request(&ns, &name, &[]).await;
    refused(
        &reviewer.review(&apiserver, &audiences()).await,
        "apiserver audience",
        "is invalid for the target audiences",
    );
    // The same token is valid for what it was issued for: the refusal is the audience's.
    let vault = reviewer.review(&other, &["vault".to_string()]).await;
    assert!(vault.is_ok(), "{vault:?}");
}

/// Claims of a bound ServiceAccount token, as the apiserver issues them, valid from `from`
/// to `until` (Unix seconds).
fn claims(issuer: &str, sa: &(String, String, String), from: i64, until: i64) -> serde_json::Value {
    let (ns, name, uid) = sa;
    json!({
        "iss": issuer,
        "aud": [AUDIENCE],
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "iat": from,
        "nbf": from,
        "exp": until,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}},
    })
}

/// An ES256 JWT of `claims` signed with the PKCS#8 `key`.
fn sign(key: &[u8], claims: &serde_json::Value) -> Secret {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key, &rng)
        .expect("a P-256 PKCS#8 key");
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let signature = pair.sign(&rng, input.as_bytes()).expect("signing");
    Secret::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The apiserver's service-account signing key (DER) and issuer.
fn apiserver_signer() -> (Vec<u8>, String) {
    let (path, issuer) = cluster().service_account_signer().expect(
        "these tests sign tokens with the started test apiserver's key; an existing cluster \
         (JITPE_TEST_KUBECONFIG) does not share its key: unset it to run them",
    );
    let pem = std::fs::read_to_string(&path).expect("the signing key is readable");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    (STANDARD.decode(b64).expect("PEM is base64"), issuer)
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

#[tokio::test]
async fn a_token_signed_with_the_apiservers_key_is_accepted_only_until_it_expires() {
    let reviewer = jitpe_reviewer().await;
    let sa = service_account().await;
    let (key, issuer) = apiserver_signer();
    let now = unix_now();
    let valid = sign(&key, &claims(&issuer, &sa, now - 60, now + 600));
    let got = reviewer.review(&valid, &audiences()).await;
    assert_eq!(got.expect("the control token is accepted").uid, sa.2);
    let expired = sign(&key, &claims(&issuer, &sa, now - 3600, now - 60));
    refused(
        &reviewer.review(&expired, &audiences()).await,
        "expired",
        "token has expired",
    );
    let other_issuer = sign(
        &key,
        &claims("https://evil.example", &sa, now - 60, now + 600),
    );
    refused(
        &reviewer.review(&other_issuer, &audiences()).await,
        "other issuer",
        "invalid bearer token",
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_and_garbage_are_refused() {
    let reviewer = jitpe_reviewer().await;
    let sa = service_account().await;
    let (_, issuer) = apiserver_signer();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let now = unix_now();
    let forged = sign(
        &other.serialize_der(),
        &claims(&issuer, &sa, now - 60, now + 600),
    );
    refused(
        &reviewer.review(&forged, &audiences()).await,
        "another key",
        "cryptographic",
    );
    let unsigned = {
        let t = forged.expose();
        Secret::new(format!("{}.", &t[..t.rfind('.').unwrap()]))
    };
    refused(
        &reviewer.review(&unsigned, &audiences()).await,
        "no signature",
        "cryptographic",
    );
    for garbage in ["garbage", "a.b.c", "Bearer x", "\u{1F511}"] {
        let got = reviewer.review(&Secret::new(garbage), &audiences()).await;
        refused(&got, garbage, "invalid bearer token");
    }
    let empty = reviewer.review(&Secret::new(""), &audiences()).await;
    refused(&empty, "empty", "the token is empty");
}

#[tokio::test]
async fn the_token_of_a_deleted_service_account_is_refused() {
    let reviewer = jitpe_reviewer().await;
    let (ns, name, _) = service_account().await;
    let token = token_request(&ns, &name, &[AUDIENCE]).await;
    assert!(reviewer.review(&token, &audiences()).await.is_ok());
    Api::<ServiceAccount>::namespaced(cluster().client(Who::Admin), &ns)
        .delete(&name, &DeleteParams::default())
        .await
        .expect("deleting the ServiceAccount");
    // The apiserver looks the account up through an informer, a moment late.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reviewer.review(&token, &audiences()).await {
            Err(TokenError::Refused(reason)) => {
                assert!(reason.contains("not found"), "{reason}");
                break;
            }
            other if Instant::now() < deadline => {
                assert!(other.is_ok(), "{other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the deleted account's token is still {other:?}"),
        }
    }
    // Recreated under the same name, it is another account (another uid): still refused.
    service_account_named(&ns, &name).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    refused(
        &reviewer.review(&token, &audiences()).await,
        "recreated account",
        "does not match",
    );
}

async fn service_account_named(ns: &str, name: &str) {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(cluster().client(Who::Admin), ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("recreating the ServiceAccount");
}

#[tokio::test]
async fn a_failure_to_ask_is_not_a_refusal() {
    let c = cluster();
    let _settled = jitpe_reviewer().await;
    let (ns, name, _) = service_account().await;
    let token = token_request(&ns, &name, &[AUDIENCE]).await;
    // An identity without `create tokenreviews` (alice): the apiserver refuses jitpe, not the
    // token.
    let unprivileged = KubeTokenReviewer::new(c.client(Who::Alice));
    match unprivileged.review(&token, &audiences()).await {
        Err(TokenError::Unavailable(m)) => assert!(m.contains("tokenreviews"), "{m}"),
        other => panic!("expected a failure to ask, got {other:?}"),
    }
    // An apiserver that is not there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = c.config(Who::Jitpe);
    config.cluster_url = format!("https://127.0.0.1:{port}").parse().unwrap();
    let gone = KubeTokenReviewer::new(kube::Client::try_from(config).unwrap());
    let got = gone.review(&token, &audiences()).await;
    assert!(matches!(got, Err(TokenError::Unavailable(_))), "{got:?}");
    assert!(!got.unwrap_err().is_refused());
    // An apiserver that accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = c.config(Who::Jitpe);
    config.cluster_url = format!("https://{}", silent.local_addr().unwrap())
        .parse()
        .unwrap();
    let hung = KubeTokenReviewer::new(kube::Client::try_from(config).unwrap())
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match hung.review(&token, &audiences()).await {
        Err(TokenError::Unavailable(m)) => assert!(m.contains("did not answer"), "{m}"),
        other => panic!("expected a failure to ask, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // No configuration at all: the lazy reviewer fails to ask, too.
    let nowhere = LazyKubeTokenReviewer::new(Some("/nonexistent/kubeconfig".into()));
    let got = nowhere.review(&token, &audiences()).await;
    assert!(matches!(got, Err(TokenError::Unavailable(_))), "{got:?}");
}

#[tokio::test]
async fn the_lazy_reviewer_connects_with_a_kubeconfig_as_jitpe() {
    let c = cluster();
    let _settled = jitpe_reviewer().await;
    let dir = c.dir().expect("the started apiserver writes a kubeconfig");
    let mut kubeconfig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("kubeconfig")).unwrap()).unwrap();
    kubeconfig["current-context"] = json!(Who::Jitpe.user());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), kubeconfig.to_string()).unwrap();
    let reviewer = LazyKubeTokenReviewer::new(Some(file.path().to_path_buf()));
    let (ns, name, uid) = service_account().await;
    let token = token_request(&ns, &name, &[AUDIENCE]).await;
    assert_eq!(
        reviewer.review(&token, &audiences()).await.unwrap().uid,
        uid
    );
    let other = token_request(&ns, &name, &["vault"]).await;
    refused(
        &reviewer.review(&other, &audiences()).await,
        "audience vault",
        "is invalid for the target audiences",
    );
}

#[tokio::test]
async fn the_cache_keeps_accepting_a_deleted_accounts_token_only_for_its_ttl() {
    let reviewer = jitpe_reviewer().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let cached = CachedTokenReviewer::new(reviewer.clone(), dyn_clock, CacheLimits::default());
    let (ns, name, _) = service_account().await;
    let token = token_request(&ns, &name, &[AUDIENCE]).await;
    assert!(cached.review(&token, &audiences()).await.is_ok());
    Api::<ServiceAccount>::namespaced(cluster().client(Who::Admin), &ns)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reviewer.review(&token, &audiences()).await.is_ok() {
        assert!(Instant::now() < deadline, "the apiserver never refused it");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The apiserver refuses it now; the cache answers from memory until the TTL is over.
    assert!(cached.review(&token, &audiences()).await.is_ok());
    clock.advance(DEFAULT_POSITIVE_TTL);
    refused(
        &cached.review(&token, &audiences()).await,
        "after the TTL",
        "not found",
    );
}
