//! The apiserver's audit webhook pointed straight at jitpe's https listener, as docs/audit.md
//! sets it up: the shipped webhook kubeconfig (filled with `https://127.0.0.1:PORT`, the
//! shipped `tls-server-name`, a test CA and the token), no relay and no TLS front. client-go
//! sends the token only over https, so a grant revoked here proves the whole path: TLS with
//! jitpe's own certificate, the token check, the shipped policy, the rule.

mod common;

use common::audit_direct;
use common::kube::{Access, Who};
use common::live::{ALICE, APPROVERS, Live};
use jitpe::domain::request::State;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

#[tokio::test]
async fn a_secret_read_sent_straight_to_jitpe_over_https_revokes_the_grant() {
    // The cluster first: its apiserver is told where jitpe's https port is.
    let cluster = audit_direct::cluster();
    let live = Live::start_direct("").await;
    let ns = live.spaces.ns.clone();
    let access = Access::new(Who::Alice, "get", "networking.k8s.io", "ingresses").in_namespace(&ns);
    let id = live.grant(ALICE, "debug", None, &access).await;

    let read = Api::<Secret>::namespaced(cluster.client(Who::Alice), &ns)
        .get("db")
        .await;
    assert!(
        matches!(&read, Err(kube::Error::Api(e)) if e.code == 403),
        "{read:?}"
    );
    live.until("the grant is revoked by the secrets rule", || {
        (live.state(id) == State::Revoked).then_some(())
    })
    .await;
    cluster.eventually_sar(&access, false).await;
    live.until("the card says REVOKED by rule secrets", || {
        let cards = live.messages(APPROVERS);
        let card = cards.first()?;
        let text = format!("{} {}", card.text, card.blocks);
        (text.contains("REVOKED by rule") && text.contains("secrets")).then_some(())
    })
    .await;
    // The batches came in on the https listener: the plain one was never given to the apiserver.
    assert!(live.metric(common::live::ACCEPTED).await > 0);
    live.stop().await;
}
