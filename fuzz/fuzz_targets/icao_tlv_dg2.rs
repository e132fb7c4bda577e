//! Fuzzes the ICAO LDS BER-TLV parser and the files built on it: EF.COM, DG1, DG2 (face records).
//! Besides raw bytes, the input is wrapped as the MRZ of a well-formed DG1 and as the face record
//! (ISO 19794-5) of a well-formed DG2, so the parsers behind the templates see arbitrary bytes.

#![no_main]

use enroll_core::domain::icao_lds::{
    EfCom, Tag, Tlv, dg2_photo, encode_tlv, parse_all, parse_dg1, parse_dg2, parse_face_record,
    validate_tree,
};
use libfuzzer_sys::fuzz_target;

fn tlv(tag: Tag, value: &[u8]) -> Option<Vec<u8>> {
    encode_tlv(tag, value).ok()
}

fn dg1_around(mrz: &[u8]) -> Option<Vec<u8>> {
    tlv(Tag::DG1, &tlv(Tag::MRZ, mrz)?)
}

fn dg2_around(face_record: &[u8]) -> Option<Vec<u8>> {
    let header = tlv(Tag::BIOMETRIC_HEADER, &[])?;
    let info = tlv(
        Tag::BIOMETRIC_INFO,
        &[header, tlv(Tag::BIOMETRIC_DATA, face_record)?].concat(),
    )?;
    let group = tlv(
        Tag::BIOMETRIC_GROUP,
        &[tlv(Tag::INSTANCE_COUNT, &[1])?, info].concat(),
    )?;
    tlv(Tag::DG2, &group)
}

fuzz_target!(|data: &[u8]| {
    let _ = Tlv::parse(data);
    let _ = parse_all(data);
    let _ = validate_tree(data, 16);
    let _ = EfCom::parse(data);
    let _ = parse_dg1(data);
    let _ = parse_dg2(data);
    let _ = dg2_photo(data);
    let _ = parse_face_record(data);
    if let Some(dg1) = dg1_around(data) {
        let _ = parse_dg1(&dg1);
    }
    if let Some(dg2) = dg2_around(data) {
        let _ = parse_dg2(&dg2);
        let _ = dg2_photo(&dg2);
    }
});
