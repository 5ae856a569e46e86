//! `[server.tls]` validation: defaults, the override, and every missing or unusable file named.

use crate::config::tests::POLICY;
use crate::config::{ConfigErrors, parse, summary};
use tempfile::TempDir;

/// A directory with a matching pair as `tls.crt` / `tls.key` and a stray key as `other.key`.
fn pki() -> TempDir {
    let dir = TempDir::new().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["jitpe".to_string()]).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("tls.crt"), made.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), made.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("other.key"), other.serialize_pem()).unwrap();
    dir
}

fn config(dir: &TempDir, tls: &str) -> String {
    let tls = tls.replace("DIR", &dir.path().display().to_string());
    format!("[server]\n[server.tls]\n{tls}\n{POLICY}")
}

fn keys(e: &ConfigErrors) -> Vec<&str> {
    e.issues().iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn a_pair_that_loads_is_served_on_8443_unless_told_otherwise() {
    let dir = pki();
    let text = config(
        &dir,
        "cert_file = \"DIR/tls.crt\"\nkey_file = \"DIR/tls.key\"",
    );
    let s = parse(&text, &|_| None).expect("valid");
    let tls = s.server.tls.as_ref().expect("the https listener");
    assert_eq!(tls.listen.to_string(), "0.0.0.0:8443");
    assert!(tls.files.cert.ends_with("tls.crt") && tls.files.key.ends_with("tls.key"));
    assert!(
        summary(&s).contains("https: listen 0.0.0.0:8443"),
        "{}",
        summary(&s)
    );

    let env = |k: &str| (k == "JITPE_TLS_LISTEN").then(|| "127.0.0.1:9443".to_string());
    let s = parse(&text, &env).expect("valid");
    assert_eq!(s.server.tls.unwrap().listen.to_string(), "127.0.0.1:9443");
}

#[test]
fn without_the_section_there_is_no_https_listener() {
    let s = parse(POLICY, &|_| None).expect("valid");
    assert!(s.server.tls.is_none());
    assert!(summary(&s).contains("https: off (no [server.tls])"));
}

#[test]
fn both_files_are_required_and_a_bad_address_is_named() {
    let dir = pki();
    let e = parse(&config(&dir, "listen = \"8443\""), &|_| None).unwrap_err();
    assert_eq!(
        keys(&e),
        [
            "server.tls.listen",
            "server.tls.cert_file",
            "server.tls.key_file"
        ]
    );
    assert!(e.to_string().contains("remove [server.tls]"), "{e}");
}

#[test]
fn a_key_of_another_certificate_or_a_missing_file_is_refused_at_validation() {
    let dir = pki();
    let other = "cert_file = \"DIR/tls.crt\"\nkey_file = \"DIR/other.key\"";
    let e = parse(&config(&dir, other), &|_| None).unwrap_err();
    assert_eq!(keys(&e), ["server.tls"]);
    assert!(e.to_string().contains("same Secret"), "{e}");

    let missing = "cert_file = \"DIR/absent.crt\"\nkey_file = \"DIR/tls.key\"";
    let e = parse(&config(&dir, missing), &|_| None).unwrap_err();
    assert!(e.to_string().contains("absent.crt"), "{e}");
}
