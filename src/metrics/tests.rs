use super::*;

/// The sample lines of `text` (not comments).
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

fn has(text: &str, sample: &str) -> bool {
    samples(text).contains(&sample)
}

#[test]
fn every_family_is_there_from_the_start_with_its_known_series_at_zero() {
    let text = Metrics::default().render();
    for family in [
        "jitpe_lifecycle",
        "jitpe_revocations",
        "jitpe_expiry_lateness_seconds",
        "jitpe_chat_deliveries",
        "jitpe_http_requests",
        "jitpe_http_request_duration_seconds",
        "jitpe_inbound_requests",
        "jitpe_auth_failures",
        "jitpe_observations",
        "jitpe_kubernetes_api_errors",
        "jitpe_reconcile_duration_seconds",
        "jitpe_reconcile_last_success_timestamp_seconds",
        "jitpe_reconcile_failures",
        "jitpe_open_requests",
        "jitpe_outbox_depth",
        "jitpe_audit_records",
        "jitpe_store_readable",
        "jitpe_build_info",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    for sample in [
        r#"jitpe_lifecycle_total{step="requested"} 0"#,
        r#"jitpe_lifecycle_total{step="timed_out"} 0"#,
        r#"jitpe_revocations_total{cause="breakglass"} 0"#,
        r#"jitpe_chat_deliveries_total{platform="slack",outcome="given_up"} 0"#,
        r#"jitpe_auth_failures_total{platform="k8s_audit"} 0"#,
        r#"jitpe_kubernetes_api_errors_total{operation="apply"} 0"#,
        r#"jitpe_open_requests{state="active"} 0"#,
        r#"jitpe_observations_total{result="refused_full"} 0"#,
        "jitpe_expiry_lateness_seconds_count 0",
        "jitpe_reconcile_failures_total 0",
        "jitpe_outbox_depth 0",
    ] {
        assert!(has(&text, sample), "{sample} missing:\n{text}");
    }
    let build = format!(
        "jitpe_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(has(&text, &build), "{text}");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
}

#[test]
fn events_move_their_own_series_only() {
    let m = Metrics::default();
    m.step(Step::requested);
    m.step(Step::requested);
    m.revoked(Cause::rule);
    m.delivery("mattermost", Outcome::given_up);
    m.inbound("/slack/commands", "auth_failed");
    m.inbound("/api/v1/requests", "auth_failed");
    m.inbound("/falco", "ok");
    m.kube_error("delete");
    m.expiry_lateness(Duration::from_millis(1500));
    m.http("/slack/commands", 401, Duration::from_millis(3));
    let text = m.render();
    for sample in [
        r#"jitpe_lifecycle_total{step="requested"} 2"#,
        r#"jitpe_lifecycle_total{step="approved"} 0"#,
        r#"jitpe_revocations_total{cause="rule"} 1"#,
        r#"jitpe_revocations_total{cause="chat"} 0"#,
        r#"jitpe_chat_deliveries_total{platform="mattermost",outcome="given_up"} 1"#,
        r#"jitpe_auth_failures_total{platform="slack"} 1"#,
        r#"jitpe_auth_failures_total{platform="api"} 1"#,
        r#"jitpe_auth_failures_total{platform="falco"} 0"#,
        r#"jitpe_inbound_requests_total{route="/falco",result="ok"} 1"#,
        r#"jitpe_kubernetes_api_errors_total{operation="delete"} 1"#,
        r#"jitpe_expiry_lateness_seconds_bucket{le="1.0"} 0"#,
        r#"jitpe_expiry_lateness_seconds_bucket{le="2.0"} 1"#,
        "jitpe_expiry_lateness_seconds_count 1",
        r#"jitpe_http_requests_total{route="/slack/commands",status="401"} 1"#,
        r#"jitpe_http_request_duration_seconds_count{route="/slack/commands"} 1"#,
    ] {
        assert!(has(&text, sample), "{sample} missing:\n{text}");
    }
}

#[test]
fn the_store_probe_and_the_sweep_set_their_gauges() {
    let m = Metrics::default();
    m.store(Some(StoreFigures {
        open: &[("pending", 3), ("approved", 0), ("active", 7)],
        outbox_depth: 12,
        audit_records: 99,
    }));
    m.reconcile(Duration::from_millis(40), true, 1_700_000_000.5);
    m.reconcile(Duration::from_millis(40), false, 1_700_000_100.0);
    let text = m.render();
    for sample in [
        r#"jitpe_open_requests{state="pending"} 3"#,
        r#"jitpe_open_requests{state="active"} 7"#,
        "jitpe_outbox_depth 12",
        "jitpe_audit_records 99",
        "jitpe_store_readable 1",
        "jitpe_reconcile_last_success_timestamp_seconds 1700000000.5",
        "jitpe_reconcile_failures_total 1",
        "jitpe_reconcile_duration_seconds_count 2",
    ] {
        assert!(has(&text, sample), "{sample} missing:\n{text}");
    }
    // A failed probe says so and keeps the last figures rather than showing zeroes.
    m.store(None);
    let text = m.render();
    assert!(has(&text, "jitpe_store_readable 0"), "{text}");
    assert!(has(&text, "jitpe_outbox_depth 12"), "{text}");
}

#[test]
fn observation_counters_are_read_from_their_source_at_each_scrape() {
    let m = Metrics::default();
    let n = std::sync::Arc::new(AtomicU64::new(5));
    let seen = n.clone();
    m.observations_from(move || vec![("accepted", seen.load(Ordering::Relaxed))]);
    assert!(has(
        &m.render(),
        r#"jitpe_observations_total{result="accepted"} 5"#
    ));
    n.store(8, Ordering::Relaxed);
    assert!(has(
        &m.render(),
        r#"jitpe_observations_total{result="accepted"} 8"#
    ));
}
