//! The behaviour suite, written once and run for every chat platform through the real router,
//! the platform's fake server and the real test apiserver (RoleBindings checked with
//! SubjectAccessReview): request → card → approve → access → card, DM and audit line → expiry →
//! access gone, card final; and the clicks that must change nothing.

mod common;

use common::driver::mattermost::MattermostDriver;
use common::driver::slack::SlackDriver;
use common::driver::{ChatDriver, Person, request_id};
use common::grants::jitpe_cluster;
use common::kube::{Access, Who, cluster};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use std::time::Duration;

fn alice(verb: &str, resource: &str, ns: &str) -> Access {
    let group = if resource == "ingresses" {
        "networking.k8s.io"
    } else {
        ""
    };
    Access::new(Who::Alice, verb, group, resource).in_namespace(ns)
}

/// Asks for `debug` in the test's namespace as the requester and lets the card be posted.
async fn pending(d: &dyn ChatDriver) -> RequestId {
    pending_for(d, "debug").await
}

/// Asks for `role` in the test's namespace as the requester and lets the card be posted.
async fn pending_for(d: &dyn ChatDriver, role: &str) -> RequestId {
    let text = format!("request {role} {} 15m INC-7 checkout 502s", d.spaces().ns);
    let reply = d.command(Person::Requester, &text).await;
    assert!(
        reply.contains("sent to the approvers"),
        "{}: {reply}",
        d.name()
    );
    let id = request_id(&reply);
    d.drain().await;
    id
}

fn state(d: &dyn ChatDriver, id: RequestId) -> State {
    let stored = d.service().store().get(id).expect("the store answers");
    stored.expect("the request exists").value.state
}

/// The only card: its text and buttons.
fn card(d: &dyn ChatDriver) -> (String, Vec<String>) {
    let cards = d.cards();
    assert_eq!(cards.len(), 1, "{}: one card, updated in place", d.name());
    cards.into_iter().next().expect("one card")
}

async fn request_approve_use_and_expire(d: &dyn ChatDriver) {
    let (c, s) = (cluster(), d.spaces().clone());
    let id = pending(d).await;
    let (text, buttons) = card(d);
    assert!(text.contains("PENDING"), "{}: {text}", d.name());
    assert_eq!(buttons, ["approve", "deny"], "{}", d.name());
    assert!(!c.sar(&alice("get", "ingresses", &s.ns)).await);

    let answer = d.click(Person::Approver, id, "approve").await;
    assert!(answer.contains("approved"), "{}: {answer}", d.name());
    assert_eq!(state(d, id), State::Active);
    c.eventually_sar(&alice("get", "ingresses", &s.ns), true)
        .await;
    let logs = alice("get", "pods", &s.ctrl).subresource("log");
    c.eventually_sar(&logs, true).await;
    d.drain().await;
    let (text, buttons) = card(d);
    assert!(text.contains("ACTIVE"), "{}: {text}", d.name());
    assert_eq!(buttons, ["revoke"], "{}", d.name());
    let dms = d.dms(Person::Requester);
    assert!(
        dms.iter().any(|m| m.contains("approved")),
        "{}: {dms:?}",
        d.name()
    );
    let audit = d.audit_lines();
    let logged = |word: &str| audit.iter().any(|l| l.contains(word));
    assert!(
        logged("approved") && logged("activated"),
        "{}: {audit:?}",
        d.name()
    );

    d.clock().advance(Duration::from_secs(15 * 60));
    d.service().run_due().await.expect("the expiry pass");
    assert_eq!(state(d, id), State::Expired);
    c.eventually_sar(&alice("get", "ingresses", &s.ns), false)
        .await;
    c.eventually_sar(&logs, false).await;
    let left = jitpe_cluster().list_managed(&s.instance, None).await;
    assert_eq!(left.expect("listed"), [], "{}", d.name());
    d.drain().await;
    let (text, buttons) = card(d);
    assert!(text.contains("EXPIRED"), "{}: {text}", d.name());
    assert!(buttons.is_empty(), "{}: {buttons:?}", d.name());
    let dms = d.dms(Person::Requester);
    assert!(
        dms.iter().any(|m| m.contains("expired")),
        "{}: {dms:?}",
        d.name()
    );
}

async fn the_requester_cannot_approve_their_own_request(d: &dyn ChatDriver) {
    let id = pending(d).await;
    let answer = d.click(Person::Requester, id, "approve").await;
    assert!(
        answer.contains("cannot approve your own"),
        "{}: {answer}",
        d.name()
    );
    assert_eq!(state(d, id), State::Pending);
    let left = jitpe_cluster()
        .list_managed(&d.spaces().instance, None)
        .await;
    assert_eq!(left.expect("listed"), [], "{}", d.name());
    d.drain().await;
    assert_eq!(card(d).1, ["approve", "deny"], "{}", d.name());
}

async fn someone_who_is_not_an_approver_cannot_approve(d: &dyn ChatDriver) {
    let id = pending(d).await;
    let answer = d.click(Person::Bystander, id, "approve").await;
    assert!(answer.contains("not an approver"), "{}: {answer}", d.name());
    assert_eq!(state(d, id), State::Pending);
    let ns = d.spaces().ns.clone();
    assert!(!cluster().sar(&alice("get", "ingresses", &ns)).await);
}

async fn a_double_click_grants_once_and_is_audited_once(d: &dyn ChatDriver) {
    let id = pending(d).await;
    d.click(Person::Approver, id, "approve").await;
    let again = d.click(Person::Approver, id, "approve").await;
    assert!(again.contains("already"), "{}: {again}", d.name());
    assert_eq!(state(d, id), State::Active);
    let objects = jitpe_cluster()
        .list_managed(&d.spaces().instance, None)
        .await;
    assert_eq!(
        objects.expect("listed").len(),
        2,
        "{}: two targets",
        d.name()
    );
    let records = d.service().store().audit_from(1, 1000).expect("audit log");
    let approvals = records.iter().filter(|r| r.action == "approved").count();
    assert_eq!(approvals, 1, "{}", d.name());
}

async fn a_two_approver_role_shows_one_of_two_after_the_first_click(d: &dyn ChatDriver) {
    let id = pending_for(d, "pair").await;
    d.click(Person::Approver, id, "approve").await;
    d.drain().await;
    assert_eq!(state(d, id), State::Pending);
    let (text, buttons) = card(d);
    assert!(text.contains("1 of 2"), "{}: {text}", d.name());
    assert_eq!(buttons, ["approve", "deny"], "{}", d.name());
    d.click(Person::SecondApprover, id, "approve").await;
    assert_eq!(state(d, id), State::Active);
    let ns = d.spaces().ns.clone();
    cluster()
        .eventually_sar(&alice("get", "ingresses", &ns), true)
        .await;
}

async fn a_denied_request_grants_nothing_and_its_card_has_no_buttons(d: &dyn ChatDriver) {
    let id = pending(d).await;
    let answer = d.click(Person::Approver, id, "deny").await;
    assert!(answer.contains("denied"), "{}: {answer}", d.name());
    d.drain().await;
    assert_eq!(state(d, id), State::Denied);
    let (text, buttons) = card(d);
    assert!(text.contains("DENIED"), "{}: {text}", d.name());
    assert!(buttons.is_empty(), "{}: {buttons:?}", d.name());
    let ns = d.spaces().ns.clone();
    assert!(!cluster().sar(&alice("get", "ingresses", &ns)).await);
    let dms = d.dms(Person::Requester);
    assert!(
        dms.iter().any(|m| m.contains("denied")),
        "{}: {dms:?}",
        d.name()
    );
}

/// Runs each scenario once per platform, each in a test of its own.
macro_rules! for_each_platform {
    ($($scenario:ident),* $(,)?) => {
        mod slack {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&super::SlackDriver::start().await).await;
                }
            )*
        }
        mod mattermost {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&super::MattermostDriver::start().await).await;
                }
            )*
        }
    };
}

for_each_platform!(
    request_approve_use_and_expire,
    the_requester_cannot_approve_their_own_request,
    someone_who_is_not_an_approver_cannot_approve,
    a_double_click_grants_once_and_is_audited_once,
    a_two_approver_role_shows_one_of_two_after_the_first_click,
    a_denied_request_grants_nothing_and_its_card_has_no_buttons,
);
