//! `server.admin_socket` (env `JITPE_ADMIN_SOCKET`): the Unix socket through which `jitpe audit
//! verify|export` and `grants list` read the store while `serve` holds it locked (`admin/`).
//! Its default lives in the store's own directory, which only one `serve` can hold.

use super::context::Ctx;
use std::path::{Path, PathBuf};

/// The value that turns the socket off.
pub const OFF: &str = "off";
/// The socket's file name in the store directory when none is configured.
pub const DEFAULT_NAME: &str = "admin.sock";
/// The longest path a Unix socket address holds on Linux (`sun_path` is 108 bytes with its NUL).
const MAX_PATH_BYTES: usize = 107;

/// The socket's path (`None` when turned off), from `JITPE_ADMIN_SOCKET`, the file, or
/// `<store>/admin.sock`.
pub(super) fn admin_socket(cx: &mut Ctx<'_>, raw: Option<String>, store: &Path) -> Option<PathBuf> {
    const KEY: &str = "server.admin_socket";
    let (value, from) = cx.overridden("JITPE_ADMIN_SOCKET", raw);
    let path = match value.as_deref() {
        Some(OFF) => return None,
        Some(v) if v.trim().is_empty() => {
            cx.issue(
                KEY,
                "is empty: name a path for the socket, or write \"off\" to serve none",
            );
            return None;
        }
        Some(v) => PathBuf::from(v),
        None => store.join(DEFAULT_NAME),
    };
    let len = path.as_os_str().len();
    if len > MAX_PATH_BYTES {
        let whose = if value.is_some() {
            from
        } else {
            " (the default, in store.path)".to_string()
        };
        cx.issue(
            KEY,
            format!(
                "`{}`{whose} is {len} bytes long, more than a Unix socket path may be \
                 ({MAX_PATH_BYTES}): name a shorter path, or write \"off\"",
                path.display()
            ),
        );
        return None;
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(raw: Option<&str>, env: Option<&str>, store: &str) -> (Option<PathBuf>, Vec<String>) {
        let env = env.map(str::to_string);
        let lookup = move |k: &str| (k == "JITPE_ADMIN_SOCKET").then(|| env.clone()).flatten();
        let mut cx = Ctx {
            env: &lookup,
            issues: Vec::new(),
            warnings: Vec::new(),
        };
        let path = admin_socket(&mut cx, raw.map(str::to_string), Path::new(store));
        (path, cx.issues.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn the_socket_defaults_to_the_store_directory_and_can_be_moved_or_turned_off() {
        let at = |p: &str| (Some(PathBuf::from(p)), Vec::<String>::new());
        assert_eq!(socket(None, None, "/data"), at("/data/admin.sock"));
        assert_eq!(
            socket(Some("/run/j.sock"), None, "/data"),
            at("/run/j.sock")
        );
        assert_eq!(
            socket(Some("/run/j.sock"), Some("/x.sock"), "/d"),
            at("/x.sock")
        );
        assert_eq!(socket(Some("off"), None, "/data"), (None, vec![]));
        assert_eq!(socket(None, Some("off"), "/data"), (None, vec![]));
        // An empty variable counts as unset, as for every override.
        assert_eq!(socket(None, Some(""), "/data"), at("/data/admin.sock"));
    }

    #[test]
    fn an_empty_or_too_long_path_is_refused_saying_what_to_write() {
        let (path, issues) = socket(Some(" "), None, "/data");
        assert_eq!(path, None);
        assert!(issues[0].contains("\"off\""), "{issues:?}");
        let deep = format!("/{}", "d".repeat(100));
        let (path, issues) = socket(None, None, &deep);
        assert_eq!(path, None);
        assert!(
            issues[0].contains("the default, in store.path"),
            "{issues:?}"
        );
        assert!(issues[0].contains("112 bytes"), "{issues:?}");
    }
}
