//! `POST /k8s/audit`: any (authenticated) body is refused with a reason or becomes completed
//! API calls whose every string is within the bound, so a hostile batch cannot make the queue
//! or the evidence large.
#![no_main]

use jitpe::domain::anomaly::Observation;
use jitpe::fuzzing::observe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let calls = match observe::k8s_audit(body) {
        Err(why) => return assert!(!why.is_empty(), "a refusal says why"),
        Ok(calls) => calls,
    };
    for observation in &calls {
        let Observation::Call(call) = observation else {
            panic!("the audit webhook queued something else: {observation:?}");
        };
        for s in [
            &call.audit_id,
            &call.user,
            &call.verb,
            &call.group,
            &call.resource,
        ] {
            jitpe_fuzz::check_field(s);
        }
        jitpe_fuzz::check_field(&call.subresource);
        for s in [
            &call.impersonated,
            &call.namespace,
            &call.name,
            &call.resource_version,
        ] {
            if let Some(s) = s {
                assert!(!s.is_empty(), "an empty optional field is None");
                jitpe_fuzz::check_field(s);
            }
        }
    }
});
