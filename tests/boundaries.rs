//! The domain stays pure: it must not use I/O or runtime crates, nor reach into adapters.
//! This stands in for a separate crate boundary.

use std::fs;
use std::path::Path;

const FORBIDDEN: [&str; 12] = [
    "tokio",
    "kube",
    "k8s_openapi",
    "sled",
    "axum",
    "reqwest",
    "crate::store",
    "crate::kube",
    "crate::chat",
    "crate::web",
    "crate::testing",
    "std::time::SystemTime",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/domain is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_domain_imports_no_io_or_runtime_crates() {
    let mut files = Vec::new();
    rust_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/domain")),
        &mut files,
    );
    assert!(files.len() > 5, "found the domain files");
    let mut offences = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("domain file is readable");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                let used =
                    code.contains(&format!("{word}::")) || code.contains(&format!("use {word}"));
                if used {
                    offences.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the domain must stay pure:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_domain_never_reads_the_clock() {
    let mut files = Vec::new();
    rust_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/domain")),
        &mut files,
    );
    for f in files {
        let text = fs::read_to_string(&f).expect("domain file is readable");
        assert!(
            !text.contains("Timestamp::now()"),
            "{} reads the clock; take `now` as an argument",
            f.display()
        );
    }
}
