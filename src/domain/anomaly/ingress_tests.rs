use super::*;
use proptest::prelude::*;

fn path(host: &str, path: &str, backend: &str) -> IngressPath {
    IngressPath {
        host: host.into(),
        path: path.into(),
        path_type: "Prefix".into(),
        backend: backend.into(),
    }
}

fn web() -> IngressShape {
    IngressShape {
        namespace: "shop".into(),
        name: "web".into(),
        resource_version: "10".into(),
        class: Some("nginx".into()),
        hosts: ["a.example.com".to_string(), "b.example.com".to_string()].into(),
        paths: vec![
            path("a.example.com", "/api", "svc-a:80"),
            path("b.example.com", "/", "web:http"),
        ],
        default_backend: None,
        tls: vec![IngressTls {
            hosts: vec!["a.example.com".into()],
            secret_name: Some("a-tls".into()),
        }],
        annotations: BTreeMap::from([(
            "nginx.ingress.kubernetes.io/rewrite-target".to_string(),
            "/".to_string(),
        )]),
        field_manager: Some("kubectl-create".into()),
    }
}

#[test]
fn an_update_names_each_changed_host_path_backend_tls_and_annotation_key() {
    let before = web();
    let mut after = web();
    after.resource_version = "11".into();
    after.field_manager = Some("kubectl-edit".into());
    after.hosts.remove("b.example.com");
    after.hosts.insert("c.example.com".into());
    after.paths = vec![
        path("a.example.com", "/api", "svc-b:80"),
        path("c.example.com", "/", "web:http"),
    ];
    after.tls[0].secret_name = Some("a-tls-2".into());
    after.annotations.insert(
        "nginx.ingress.kubernetes.io/rewrite-target".into(),
        "/$2".into(),
    );
    let change = diff(Some(&before), Some(&after));
    assert_eq!(change.kind, ChangeKind::Updated);
    assert_eq!(
        change.summary,
        "hosts +c.example.com -b.example.com; \
         paths ~a.example.com/api (svc-a:80 -> svc-b:80) +c.example.com/ (web:http) \
         -b.example.com/ (web:http); \
         tls +a-tls-2 (a.example.com) -a-tls (a.example.com); \
         annotations ~nginx.ingress.kubernetes.io/rewrite-target"
    );
}

#[test]
fn annotation_values_never_reach_the_summary() {
    let mut after = web();
    after
        .annotations
        .insert("auth-token".into(), "s3cr3t-value".into());
    after.annotations.insert(
        "nginx.ingress.kubernetes.io/rewrite-target".into(),
        "hunter2".into(),
    );
    for change in [
        diff(Some(&web()), Some(&after)),
        diff(None, Some(&after)),
        diff(Some(&after), None),
    ] {
        assert!(
            !change.summary.contains("s3cr3t") && !change.summary.contains("hunter2"),
            "{}",
            change.summary
        );
        assert!(change.summary.contains("auth-token"), "{}", change.summary);
    }
}

#[test]
fn status_resource_version_and_field_manager_alone_are_no_change() {
    let mut after = web();
    after.resource_version = "99".into();
    after.field_manager = Some("ingress-controller".into());
    let change = diff(Some(&web()), Some(&after));
    assert_eq!(change.kind, ChangeKind::Unchanged);
    assert!(!change.is_change() && change.summary.is_empty());
    assert!(!diff(None, None).is_change());
}

#[test]
fn created_and_deleted_list_what_the_ingress_holds() {
    let created = diff(None, Some(&web()));
    assert_eq!(created.kind, ChangeKind::Created);
    assert_eq!(
        created.summary,
        "class +nginx; hosts +a.example.com +b.example.com; \
         paths +a.example.com/api (svc-a:80) +b.example.com/ (web:http); \
         tls +a-tls (a.example.com); annotations +nginx.ingress.kubernetes.io/rewrite-target"
    );
    let deleted = diff(Some(&web()), None);
    assert_eq!(deleted.kind, ChangeKind::Deleted);
    assert!(
        deleted
            .summary
            .starts_with("class -nginx; hosts -a.example.com")
    );
    let bare = IngressShape::default();
    assert_eq!(diff(None, Some(&bare)).summary, "no rules");
}

#[test]
fn class_default_backend_and_path_type_changes_read_as_old_to_new() {
    let mut after = web();
    after.class = Some("traefik".into());
    after.default_backend = Some("fallback:80".into());
    after.paths[0].path_type = "Exact".into();
    let s = diff(Some(&web()), Some(&after)).summary;
    assert_eq!(
        s,
        "class nginx -> traefik; paths ~a.example.com/api (svc-a:80 -> svc-a:80 Exact); \
         default-backend +fallback:80"
    );
}

#[test]
fn a_huge_change_is_clipped_with_a_count_of_what_was_left_out() {
    let mut after = web();
    for i in 0..500 {
        after.hosts.insert(format!("host-{i:03}.example.com"));
    }
    after.paths.push(path("x", &"/p".repeat(400), "svc:80"));
    let s = diff(Some(&web()), Some(&after)).summary;
    assert!(s.len() <= MAX_SUMMARY, "{}", s.len());
    assert!(s.ends_with("more"), "{s}");
    assert!(
        s.starts_with("hosts +host-000.example.com +host-001"),
        "{s}"
    );
}

#[test]
fn newlines_and_control_characters_cannot_split_an_audit_line() {
    let mut after = web();
    after
        .paths
        .push(path("", "/x\nfake #2 system:jitpe revoked", "svc:80"));
    let s = diff(Some(&web()), Some(&after)).summary;
    assert!(!s.contains('\n'), "{s}");
    assert!(s.contains("/x?fake"), "{s}");
}

#[test]
fn clipping_respects_character_boundaries() {
    let s = "é".repeat(200);
    let c = clip(&s, MAX_ITEM);
    assert!(c.len() <= MAX_ITEM && c.ends_with('…'));
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-c]{1,3}",
        "[a-z/\\.\n é]{0,40}",
        "[a-z]{150,200}",
    ]
}

prop_compose! {
    fn shape()(
        class in proptest::option::of(word()),
        hosts in proptest::collection::btree_set(word(), 0..6),
        paths in proptest::collection::vec((word(), word(), word(), word()), 0..12),
        default_backend in proptest::option::of(word()),
        tls in proptest::collection::vec(
            (proptest::collection::vec(word(), 0..3), proptest::option::of(word())), 0..4),
        annotations in proptest::collection::btree_map(word(), word(), 0..8),
    ) -> IngressShape {
        IngressShape {
            namespace: "shop".into(),
            name: "web".into(),
            resource_version: "1".into(),
            class,
            hosts,
            paths: paths
                .into_iter()
                .map(|(host, path, path_type, backend)| IngressPath { host, path, path_type, backend })
                .collect(),
            default_backend,
            tls: tls
                .into_iter()
                .map(|(hosts, secret_name)| IngressTls { hosts, secret_name })
                .collect(),
            annotations,
            field_manager: None,
        }
    }
}

proptest! {
    // NB: 64 cases each: the shapes are large (up to 12 paths of up to 200 characters), and the
    // properties are simple enough that more cases find nothing new.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_shape_never_differs_from_itself(a in shape()) {
        let c = diff(Some(&a), Some(&a));
        prop_assert_eq!(c.kind, ChangeKind::Unchanged);
        prop_assert!(c.summary.is_empty());
    }

    #[test]
    fn every_diff_is_bounded_one_line_and_deterministic(a in shape(), b in shape()) {
        for (x, y) in [(Some(&a), Some(&b)), (None, Some(&b)), (Some(&a), None)] {
            let c = diff(x, y);
            prop_assert!(c.summary.len() <= MAX_SUMMARY, "{}", c.summary.len());
            prop_assert!(!c.summary.contains('\n'));
            prop_assert_eq!(&c, &diff(x, y));
            prop_assert_eq!(c.is_change(), c.kind != ChangeKind::Unchanged);
            if c.kind == ChangeKind::Updated {
                prop_assert!(a != b);
            }
        }
    }

    #[test]
    fn values_of_annotations_never_show(a in shape(), b in shape(), secret in "[A-Z]{12}") {
        let mut b = b;
        b.annotations.insert("k".into(), secret.clone());
        let c = diff(Some(&a), Some(&b));
        prop_assert!(!c.summary.contains(&secret));
    }
}
