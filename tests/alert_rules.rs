//! The example alerts (`manifests/monitoring/prometheusrule.yaml`, which the chart renders too)
//! ask only for metrics jitpe exposes: every `jitpe_*` name in an expression is a family of
//! `/metrics` (or one of a histogram's `_bucket`, `_sum`, `_count` series), and every label it
//! filters on is one that family has. A renamed metric fails here, not silently in Prometheus.

use jitpe::metrics::Metrics;
use std::collections::{BTreeMap, BTreeSet};

const RULES: &str = include_str!("../manifests/monitoring/prometheusrule.yaml");

/// Every series name of a fresh `/metrics` with the label names it carries.
fn exposed() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in Metrics::default().render().lines() {
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_string()).or_default();
        if let Some(inner) = line.get(name_end + 1..).and_then(|l| l.split_once('}')) {
            for pair in inner.0.split(',').filter(|p| !p.is_empty()) {
                labels.insert(pair.split('=').next().unwrap().to_string());
            }
        }
    }
    out
}

/// The PromQL expressions of every rule.
fn expressions() -> Vec<(String, String)> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(RULES).unwrap();
    let mut out = Vec::new();
    for group in doc["spec"]["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap().to_string();
            out.push((name, rule["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn every_alert_reads_metrics_and_labels_that_jitpe_exposes() {
    let exposed = exposed();
    let names = regex::Regex::new(r"jitpe_[a-z_]+").unwrap();
    let filters = regex::Regex::new(r"(jitpe_[a-z_]+)\{([a-z_]+)\s*(=|!=|=~|!~)").unwrap();
    let rules = expressions();
    assert!(
        rules.len() >= 4,
        "expiry, outbox, reconcile and auth alerts"
    );
    for (alert, expr) in &rules {
        for name in names.find_iter(expr) {
            assert!(
                exposed.contains_key(name.as_str()),
                "{alert} reads {}, which /metrics does not have",
                name.as_str()
            );
        }
        for f in filters.captures_iter(expr) {
            let labels = &exposed[&f[1]];
            assert!(
                labels.contains(&f[2]),
                "{alert} filters {} on `{}`, a label it does not have ({labels:?})",
                &f[1],
                &f[2]
            );
        }
    }
}

#[test]
fn the_alerts_cover_lateness_the_outbox_the_sweep_and_auth_failures() {
    let all: String = expressions().into_iter().map(|(_, e)| e).collect();
    for needed in [
        "jitpe_expiry_lateness_seconds_bucket",
        "jitpe_outbox_depth",
        "jitpe_reconcile_last_success_timestamp_seconds",
        "jitpe_auth_failures_total",
    ] {
        assert!(all.contains(needed), "no alert reads {needed}");
    }
}
