//! The domain stays pure: it must not use I/O or runtime crates, nor reach into adapters.
//! This stands in for a separate crate boundary. The admin socket only reads.

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

/// The sibling modules (files) of each directory under `src/` that `file` refers to, by
/// `super::<name>` or by `crate::<dir path>::<name>`, in code (comments are ignored).
fn sibling_refs(file: &Path, module_path: &str, siblings: &[String]) -> Vec<String> {
    let text = fs::read_to_string(file).expect("source file is readable");
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    siblings
        .iter()
        .filter(|s| {
            let by_super = code.contains(&format!("super::{s}::"))
                || code.contains(&format!("super::{s};"))
                || code.contains(&format!("super::{s}}}"));
            by_super || code.contains(&format!("crate::{module_path}::{s}::"))
        })
        .cloned()
        .collect()
}

/// Whether `from` reaches `to` through `edges`.
fn reaches(edges: &std::collections::BTreeMap<String, Vec<String>>, from: &str, to: &str) -> bool {
    let (mut seen, mut todo) = (std::collections::BTreeSet::new(), vec![from.to_string()]);
    while let Some(m) = todo.pop() {
        for next in edges.get(&m).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn sibling_modules_import_each_other_in_one_direction_only() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut dirs = vec![src.to_path_buf()];
    let mut cycles = Vec::new();
    while let Some(dir) = dirs.pop() {
        let module_path = dir
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('/', "::");
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let siblings: Vec<String> = files
            .iter()
            .map(|p| stem(p))
            .filter(|s| s != "mod")
            .collect();
        let edges: std::collections::BTreeMap<String, Vec<String>> = files
            .iter()
            .filter(|p| stem(p) != "mod" && !stem(p).ends_with("tests"))
            .map(|p| (stem(p), sibling_refs(p, &module_path, &siblings)))
            .collect();
        for m in edges.keys() {
            if reaches(&edges, m, m) {
                cycles.push(format!("{}/{m}.rs", dir.display()));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles through:\n{}",
        cycles.join("\n")
    );
}

/// The admin socket (`src/admin.rs`, `src/admin/`) serves reads only, whoever connects: it
/// imports nothing that acts (service, chat, kube, web, app) and calls none of the store's
/// writes outside its tests.
#[test]
fn the_admin_socket_only_reads() {
    const WRITES: [&str; 10] = [
        "next_id",
        "submit",
        "create",
        "update",
        "append_audit",
        "outbox_retry",
        "outbox_done",
        "put_card",
        "seen_once",
        "set_cursor",
    ];
    const ACTORS: [&str; 5] = [
        "crate::service",
        "crate::chat",
        "crate::kube",
        "crate::web",
        "crate::app",
    ];
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = vec![src.join("admin.rs")];
    rust_files(&src.join("admin"), &mut files);
    assert!(files.len() >= 3, "found the admin socket's files");
    let mut offences = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("admin file is readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            let writes = WRITES.iter().any(|w| line.contains(&format!(".{w}(")));
            if writes || ACTORS.iter().any(|a| line.contains(a)) {
                offences.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the admin socket must only read:\n{}",
        offences.join("\n")
    );
}
