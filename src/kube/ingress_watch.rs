//! The Ingress watch port on kube-runtime's watcher: one watch per namespace, as jitpe's own
//! identity (its ClusterRole holds list and watch on `networking.k8s.io` `ingresses`), turning
//! `networking.k8s.io/v1` Ingresses into the domain's [`IngressShape`] and each event into the
//! Ingress before and after it.
//!
//! The watcher lists first and then watches; it starts over with a new listing (`Init`,
//! `InitApply`…, `InitDone`) when the watch cannot resume, for instance after a `410 Gone`
//! (<https://docs.rs/kube-runtime/latest/kube_runtime/watcher/enum.Event.html>: an object
//! known before but absent from the new listing must be taken as deleted). The first listing is the baseline and sends nothing;
//! a later one is compared with what was known, so changes made while the watch was down
//! are still reported.

use super::lazy::connect;
use crate::domain::anomaly::{IngressPath, IngressShape, IngressTls, LAST_APPLIED_ANNOTATION};
use crate::ports::{IngressEvent, IngressSink, IngressWatch};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// Pause before a new watcher when one ended (kube-runtime's does not end on its own; this
/// only guards against a busy loop should it ever).
const RESTART_PAUSE: Duration = Duration::from_secs(5);

/// Watches Ingresses with a kube client, given or built on first use.
#[derive(Clone)]
pub struct KubeIngressWatch {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Client(Client),
    Config {
        kubeconfig: Option<PathBuf>,
        client: Arc<Mutex<Option<Client>>>,
    },
}

impl KubeIngressWatch {
    /// Watches with `client` (jitpe's own identity).
    pub fn new(client: Client) -> Self {
        Self {
            source: Source::Client(client),
        }
    }

    /// Connects on first use from `kubeconfig` (or in-cluster / default config, as
    /// [`super::lazy::LazyKubeCluster`] does), retrying until the cluster is reachable.
    pub fn lazy(kubeconfig: Option<PathBuf>) -> Self {
        Self {
            source: Source::Config {
                kubeconfig,
                client: Arc::default(),
            },
        }
    }
}

impl IngressWatch for KubeIngressWatch {
    fn watch(&self, namespace: String, sink: IngressSink) -> BoxFuture<'static, ()> {
        Box::pin(run(self.source.clone(), namespace, sink))
    }
}

/// A client, waiting (with a backoff) until there is a usable configuration.
async fn client(source: &Source, namespace: &str) -> Client {
    let (kubeconfig, cached) = match source {
        Source::Client(c) => return c.clone(),
        Source::Config { kubeconfig, client } => (kubeconfig, client),
    };
    let mut failures = 0u32;
    loop {
        let mut cached = cached.lock().await;
        if let Some(c) = cached.as_ref() {
            return c.clone();
        }
        match connect(kubeconfig.as_ref()).await {
            Ok(c) => {
                *cached = Some(c.clone());
                return c;
            }
            Err(e) => {
                drop(cached);
                failures = failures.saturating_add(1);
                let pause = Duration::from_secs(1 << failures.min(5));
                warn!(namespace, error = %e, retry_in = ?pause, "cannot watch Ingresses yet");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

async fn run(source: Source, namespace: String, sink: IngressSink) {
    let api: Api<Ingress> = Api::namespaced(client(&source, &namespace).await, &namespace);
    let mut feed = Feed::default();
    loop {
        let mut events = watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(e) => e,
                Err(e) => {
                    warn!(%namespace, error = %e, "watching Ingresses failed; retrying");
                    continue;
                }
            };
            for change in feed.on(&namespace, event) {
                if sink.send(change).await.is_err() {
                    return;
                }
            }
        }
        debug!(%namespace, "the Ingress watcher ended; starting a new one");
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// What one watch knows: the Ingresses as last seen (`None` until the baseline listing is
/// done) and the listing in progress.
#[derive(Default)]
struct Feed {
    known: Option<BTreeMap<String, IngressShape>>,
    listing: Option<BTreeMap<String, IngressShape>>,
}

impl Feed {
    /// The changes one watcher event makes.
    fn on(&mut self, namespace: &str, event: watcher::Event<Ingress>) -> Vec<IngressEvent> {
        let event_of = |name: &str, before, after: Option<IngressShape>, rv: String| IngressEvent {
            namespace: namespace.to_string(),
            name: name.to_string(),
            before,
            after,
            resource_version: rv,
        };
        match event {
            watcher::Event::Init => {
                self.listing = Some(BTreeMap::new());
                vec![]
            }
            watcher::Event::InitApply(i) => {
                let s = shape(&i);
                self.listing
                    .get_or_insert_default()
                    .insert(s.name.clone(), s);
                vec![]
            }
            watcher::Event::InitDone => self.listed(namespace),
            watcher::Event::Apply(i) => {
                let s = shape(&i);
                let known = self.known.get_or_insert_default();
                let before = known.insert(s.name.clone(), s.clone());
                let rv = s.resource_version.clone();
                vec![event_of(&s.name.clone(), before, Some(s), rv)]
            }
            watcher::Event::Delete(i) => {
                let s = shape(&i);
                let before = self.known.get_or_insert_default().remove(&s.name);
                let rv = s.resource_version.clone();
                vec![event_of(
                    &s.name.clone(),
                    Some(before.unwrap_or(s)),
                    None,
                    rv,
                )]
            }
        }
    }

    /// A listing is complete: the first is the baseline; a later one is compared with what
    /// was known.
    fn listed(&mut self, namespace: &str) -> Vec<IngressEvent> {
        let listed = self.listing.take().unwrap_or_default();
        let Some(mut known) = self.known.replace(listed.clone()) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (name, now) in listed {
            let before = known.remove(&name);
            if before.as_ref() != Some(&now) {
                out.push(IngressEvent {
                    namespace: namespace.to_string(),
                    name,
                    before,
                    resource_version: now.resource_version.clone(),
                    after: Some(now),
                });
            }
        }
        for (name, gone) in known {
            out.push(IngressEvent {
                namespace: namespace.to_string(),
                name,
                resource_version: gone.resource_version.clone(),
                before: Some(gone),
                after: None,
            });
        }
        out
    }
}

/// The domain's view of an Ingress.
pub fn shape(i: &Ingress) -> IngressShape {
    let spec = i.spec.clone().unwrap_or_default();
    let rules = spec.rules.unwrap_or_default();
    let mut paths = Vec::new();
    for rule in &rules {
        let host = rule.host.clone().unwrap_or_default();
        for p in rule.http.iter().flat_map(|h| &h.paths) {
            paths.push(IngressPath {
                host: host.clone(),
                path: p.path.clone().unwrap_or_default(),
                path_type: p.path_type.clone(),
                backend: backend(&p.backend),
            });
        }
    }
    let tls = spec
        .tls
        .unwrap_or_default()
        .into_iter()
        .map(|t| IngressTls {
            hosts: t.hosts.unwrap_or_default(),
            secret_name: t.secret_name,
        });
    let mut annotations = i.annotations().clone();
    annotations.remove(LAST_APPLIED_ANNOTATION);
    IngressShape {
        namespace: i.namespace().unwrap_or_default(),
        name: i.name_any(),
        resource_version: i.resource_version().unwrap_or_default(),
        class: spec.ingress_class_name,
        hosts: rules.iter().filter_map(|r| r.host.clone()).collect(),
        paths,
        default_backend: spec.default_backend.as_ref().map(backend),
        tls: tls.collect(),
        annotations,
        field_manager: field_manager(i),
    }
}

/// `service:port` (number or name), or `Kind/name` for a resource backend.
fn backend(b: &IngressBackend) -> String {
    if let Some(s) = &b.service {
        let port = s.port.as_ref().and_then(|p| match (&p.number, &p.name) {
            (Some(n), _) => Some(n.to_string()),
            (None, Some(name)) => Some(name.clone()),
            (None, None) => None,
        });
        return format!("{}:{}", s.name, port.unwrap_or_else(|| "?".into()));
    }
    match &b.resource {
        Some(r) => format!("{}/{}", r.kind, r.name),
        None => "(none)".into(),
    }
}

/// The manager of the newest `managedFields` entry that is not a status write (the ingress
/// controller writes the load balancer status; that is not who changed the routing). An entry's
/// `subresource` names the subresource it was written through, empty for the main resource
/// (<https://kubernetes.io/docs/reference/kubernetes-api/definitions/managed-fields-entry-v1-meta/>). Entries
/// carry a time to the second; of equal times, the later entry wins.
fn field_manager(i: &Ingress) -> Option<String> {
    let entries = i.metadata.managed_fields.as_ref()?;
    entries
        .iter()
        .filter(|e| e.subresource.as_deref().unwrap_or("").is_empty())
        .filter(|e| e.manager.as_deref().is_some_and(|m| !m.is_empty()))
        .enumerate()
        .max_by_key(|(n, e)| (e.time.as_ref().map(|t| t.0), *n))
        .and_then(|(_, e)| e.manager.clone())
}

#[cfg(test)]
#[path = "ingress_watch_tests.rs"]
mod tests;
