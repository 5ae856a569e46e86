//! `POST /falco`: any (authenticated) body is refused with a reason or becomes one Falco alert
//! that names a rule, with every string within its bound and no placeholder (`<NA>`, empty) as
//! a user or namespace.
#![no_main]

use jitpe::domain::anomaly::Observation;
use jitpe::fuzzing::observe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let alert = match observe::falco(body) {
        Err(why) => return assert!(!why.is_empty(), "a refusal says why"),
        Ok(Observation::Falco(alert)) => alert,
        Ok(other) => panic!("the Falco route queued something else: {other:?}"),
    };
    assert!(!alert.rule.trim().is_empty(), "an alert names its rule");
    jitpe_fuzz::check_field(&alert.rule);
    assert!(alert.output.chars().count() <= observe::MAX_OUTPUT_CHARS);
    for s in [&alert.user, &alert.namespace].into_iter().flatten() {
        assert!(!s.is_empty() && s != "<NA>", "placeholder kept: {s:?}");
        jitpe_fuzz::check_field(s);
    }
});
