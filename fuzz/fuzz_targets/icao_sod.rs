//! Fuzzes the EF.SOD parser (CMS SignedData wrapper and the LDS security object inside).

#![no_main]

use enroll_kiosk_fuzz::domain::icao_lds::{LdsSecurityObject, decode_oid, parse_sod};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_sod(data);
    let _ = LdsSecurityObject::parse(data);
    let _ = decode_oid(data);
});
