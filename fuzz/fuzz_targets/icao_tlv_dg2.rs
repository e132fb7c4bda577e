//! Fuzzes the ICAO LDS BER-TLV parser and the files built on it: EF.COM, DG1, DG2 (face records).

#![no_main]

use enroll_kiosk_fuzz::domain::icao_lds::{
    EfCom, Tlv, dg2_photo, parse_all, parse_dg1, parse_dg2, parse_face_record, validate_tree,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Tlv::parse(data);
    let _ = parse_all(data);
    let _ = validate_tree(data, 16);
    let _ = EfCom::parse(data);
    let _ = parse_dg1(data);
    let _ = parse_dg2(data);
    let _ = dg2_photo(data);
    let _ = parse_face_record(data);
});
