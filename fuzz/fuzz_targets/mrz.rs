//! Fuzzes the MRZ parser (TD1, TD2, TD3, as lines or one run), typed access keys and MRZ dates.

#![no_main]

use enroll_core::domain::mrz::{Mrz, MrzAccessKey, MrzDate, check_digit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Mrz::parse(text);
    let _ = MrzAccessKey::parse_typed(text);
    let _ = MrzDate::parse(text);
    let _ = check_digit(text);
});
