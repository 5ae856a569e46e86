use super::*;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};
use k8s_openapi::chrono::{TimeZone, Utc};

fn service(name: &str, port: i32) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: name.into(),
            port: Some(ServiceBackendPort {
                number: Some(port),
                name: None,
            }),
        }),
        resource: None,
    }
}

fn managed(manager: &str, second: i64, subresource: Option<&str>) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: Some(manager.into()),
        operation: Some("Update".into()),
        subresource: subresource.map(String::from),
        time: Some(Time(Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap())),
        ..ManagedFieldsEntry::default()
    }
}

fn ingress(name: &str, rv: &str, host: &str, backend: &str) -> Ingress {
    Ingress {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shop".into()),
            resource_version: Some(rv.into()),
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED_ANNOTATION.to_string(), "{...}".to_string()),
                ("a".to_string(), "1".to_string()),
            ])),
            managed_fields: Some(vec![
                managed("kubectl-create", 0, None),
                managed("kubectl-edit", 5, None),
                managed("nginx-controller", 9, Some("status")),
            ]),
            ..ObjectMeta::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: Some("nginx".into()),
            rules: Some(vec![IngressRule {
                host: Some(host.into()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/api".into()),
                        path_type: "Prefix".into(),
                        backend: service(backend, 80),
                    }],
                }),
            }]),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![host.into()]),
                secret_name: Some("web-tls".into()),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

#[test]
fn an_ingress_becomes_its_shape_with_the_newest_non_status_field_manager() {
    let s = shape(&ingress("web", "7", "a.example.com", "svc-a"));
    assert_eq!((s.namespace.as_str(), s.name.as_str()), ("shop", "web"));
    assert_eq!(s.resource_version, "7");
    assert_eq!(s.class.as_deref(), Some("nginx"));
    assert_eq!(s.hosts.iter().collect::<Vec<_>>(), ["a.example.com"]);
    assert_eq!(s.paths[0].backend, "svc-a:80");
    assert_eq!(s.paths[0].host, "a.example.com");
    assert_eq!(s.tls[0].secret_name.as_deref(), Some("web-tls"));
    assert_eq!(s.annotations.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(s.field_manager.as_deref(), Some("kubectl-edit"));
}

#[test]
fn backends_read_as_service_and_port_or_kind_and_name() {
    let mut b = service("web", 0);
    b.service.as_mut().unwrap().port = Some(ServiceBackendPort {
        number: None,
        name: Some("http".into()),
    });
    assert_eq!(backend(&b), "web:http");
    let r = IngressBackend {
        service: None,
        resource: Some(k8s_openapi::api::core::v1::TypedLocalObjectReference {
            api_group: Some("k8s.example.com".into()),
            kind: "StorageBucket".into(),
            name: "static".into(),
        }),
    };
    assert_eq!(backend(&r), "StorageBucket/static");
}

#[test]
fn the_first_listing_is_the_baseline_and_later_events_carry_before_and_after() {
    let mut feed = Feed::default();
    assert!(feed.on("shop", watcher::Event::Init).is_empty());
    let first = ingress("web", "1", "a.example.com", "svc-a");
    assert!(
        feed.on("shop", watcher::Event::InitApply(first.clone()))
            .is_empty()
    );
    assert!(feed.on("shop", watcher::Event::InitDone).is_empty());
    let second = ingress("web", "2", "b.example.com", "svc-a");
    let changes = feed.on("shop", watcher::Event::Apply(second.clone()));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].before, Some(shape(&first)));
    assert_eq!(changes[0].after, Some(shape(&second)));
    assert_eq!(changes[0].resource_version, "2");
    let gone = feed.on("shop", watcher::Event::Delete(second.clone()));
    assert_eq!(gone[0].before, Some(shape(&second)));
    assert_eq!(gone[0].after, None);
}

#[test]
fn a_new_listing_reports_what_changed_while_the_watch_was_down() {
    let mut feed = Feed::default();
    let (a, b) = (
        ingress("a", "1", "a.example.com", "svc"),
        ingress("b", "2", "b.example.com", "svc"),
    );
    for e in [
        watcher::Event::Init,
        watcher::Event::InitApply(a.clone()),
        watcher::Event::InitApply(b.clone()),
        watcher::Event::InitDone,
    ] {
        assert!(feed.on("shop", e).is_empty());
    }
    let a2 = ingress("a", "5", "a.example.com", "other");
    let c = ingress("c", "6", "c.example.com", "svc");
    feed.on("shop", watcher::Event::Init);
    feed.on("shop", watcher::Event::InitApply(a2.clone()));
    feed.on("shop", watcher::Event::InitApply(c.clone()));
    let changes = feed.on("shop", watcher::Event::InitDone);
    let seen: Vec<(&str, bool, bool)> = changes
        .iter()
        .map(|e| (e.name.as_str(), e.before.is_some(), e.after.is_some()))
        .collect();
    assert_eq!(
        seen,
        [("a", true, true), ("c", false, true), ("b", true, false)]
    );
    // The same listing again changes nothing.
    feed.on("shop", watcher::Event::Init);
    feed.on("shop", watcher::Event::InitApply(a2));
    feed.on("shop", watcher::Event::InitApply(c));
    assert!(feed.on("shop", watcher::Event::InitDone).is_empty());
}
