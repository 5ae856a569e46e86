//! `POST /api/v1/requests`: any body from a verified caller is refused with a message or becomes
//! one request whose reason, duration and labels pass the same checks as chat's.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match jitpe::fuzzing::api::create(body) {
        Err(why) => assert!(!why.is_empty(), "a refusal says why"),
        Ok(new) => jitpe_fuzz::check_api_request(&new),
    }
});
