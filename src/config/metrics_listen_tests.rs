//! `server.metrics_listen`: off by default, from the file or `JITPE_METRICS_LISTEN`, and never
//! the main listener's address.

use crate::config::tests::POLICY;
use crate::config::{parse, summary};

fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs = pairs.to_vec();
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn metrics_stay_on_the_main_listener_unless_given_their_own() {
    let s = parse(POLICY, &env_of(&[])).unwrap();
    assert_eq!(s.server.metrics_listen, None);
    assert!(summary(&s).contains("metrics: /metrics on 127.0.0.1:8080"));
    let text = format!("[server]\nmetrics_listen = \"0.0.0.0:9090\"\n{POLICY}");
    let s = parse(&text, &env_of(&[])).unwrap();
    assert_eq!(s.server.metrics_listen.unwrap().to_string(), "0.0.0.0:9090");
    assert!(summary(&s).contains("on its own listener 0.0.0.0:9090"));
    let env = env_of(&[("JITPE_METRICS_LISTEN", "127.0.0.1:9191")]);
    let s = parse(&text, &env).unwrap();
    assert_eq!(
        s.server.metrics_listen.unwrap().to_string(),
        "127.0.0.1:9191"
    );
}

#[test]
fn a_bad_or_shared_metrics_address_is_refused_with_its_key() {
    let err = parse(POLICY, &env_of(&[("JITPE_METRICS_LISTEN", "9090")])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("server.metrics_listen"), "{text}");
    assert!(text.contains("(from JITPE_METRICS_LISTEN)"), "{text}");
    let same =
        format!("[server]\nlisten = \"0.0.0.0:8080\"\nmetrics_listen = \"0.0.0.0:8080\"\n{POLICY}");
    let err = parse(&same, &env_of(&[])).unwrap_err();
    assert!(
        err.to_string().contains("same address as server.listen"),
        "{err}"
    );
}
