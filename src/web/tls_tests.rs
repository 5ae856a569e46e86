//! Loading the https listener's certificate: good pairs load, every bad file is named.

use super::*;
use tempfile::TempDir;

/// A fresh self-signed pair for `name`, as PEM (certificate, key).
fn pair(name: &str) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// `cert` and `key` written to `tls.crt` and `tls.key` in a new directory.
fn files(cert: &str, key: &str) -> (TempDir, TlsFiles) {
    let dir = TempDir::new().expect("temp dir");
    let files = TlsFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    };
    std::fs::write(&files.cert, cert).expect("write cert");
    std::fs::write(&files.key, key).expect("write key");
    (dir, files)
}

#[test]
fn a_matching_pair_loads_and_its_digest_follows_the_contents() {
    let (cert, key) = pair("jitpe.jitpe-system.svc");
    let (_dir, f) = files(&cert, &key);
    let first = load(&f).expect("loads");
    assert_eq!(first.key.cert.len(), 1);
    assert_eq!(load(&f).expect("loads again").digest, first.digest);
    let (cert2, key2) = pair("jitpe.jitpe-system.svc");
    std::fs::write(&f.cert, cert2).unwrap();
    std::fs::write(&f.key, key2).unwrap();
    assert_ne!(load(&f).expect("the new pair loads").digest, first.digest);
}

#[test]
fn a_chain_keeps_every_certificate_in_order() {
    let (leaf, key) = pair("a");
    let (intermediate, _) = pair("b");
    let (_dir, f) = files(&format!("{leaf}{intermediate}"), &key);
    let loaded = load(&f).expect("loads");
    assert_eq!(loaded.key.cert.len(), 2);
}

#[test]
fn a_missing_file_is_named() {
    let (cert, key) = pair("a");
    let (_dir, mut f) = files(&cert, &key);
    f.key = f.key.with_file_name("absent.key");
    let e = load(&f).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot read ") && e.contains("absent.key"),
        "{e}"
    );
}

#[test]
fn a_certificate_file_without_a_certificate_says_what_it_needs() {
    let (_, key) = pair("a");
    let (_dir, f) = files(&key, &key);
    let e = load(&f).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
    assert!(e.to_string().contains("-----BEGIN CERTIFICATE-----"), "{e}");
}

#[test]
fn a_key_file_without_a_key_is_refused() {
    let (cert, _) = pair("a");
    for garbage in [
        cert.as_str(),
        "",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        let (_dir, f) = files(&cert, garbage);
        let e = load(&f).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{garbage:?}: {e}");
        assert!(e.to_string().contains("tls.key"), "{e}");
    }
}

#[test]
fn the_key_of_another_certificate_is_refused() {
    let (cert, _) = pair("a");
    let (_, other_key) = pair("a");
    let (_dir, f) = files(&cert, &other_key);
    let e = load(&f).unwrap_err();
    assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("same Secret"), "{e}");
}

#[test]
fn a_replaced_certificate_is_what_the_next_handshake_gets() {
    let (cert, key) = pair("a");
    let (_dir, f) = files(&cert, &key);
    let served = ServedCert::new(load(&f).unwrap().key);
    let (cert2, key2) = pair("a");
    std::fs::write(&f.cert, cert2).unwrap();
    std::fs::write(&f.key, key2).unwrap();
    let next = load(&f).unwrap().key;
    served.replace(next.clone());
    assert!(Arc::ptr_eq(&served.current(), &next));
    assert!(acceptor(Arc::new(served)).is_ok());
}
