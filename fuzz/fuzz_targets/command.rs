//! The `/jit` grammar: any text parses to a command or an error with a message, and a command
//! renders to text that parses back to it.
#![no_main]

use jitpe::domain::command::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    jitpe_fuzz::check_command(&parse(text));
});
