//! Fuzzes the EF.SOD parser (CMS SignedData wrapper and the LDS security object inside): raw bytes,
//! and the input wrapped as the encapsulated content of a well-formed SignedData envelope, so the
//! security-object parser behind the envelope sees arbitrary bytes too.

#![no_main]

use enroll_core::domain::icao_lds::{
    LdsSecurityObject, OID_LDS_SECURITY_OBJECT, OID_SIGNED_DATA, Tag, decode_oid, encode_oid,
    encode_tlv, parse_sod,
};
use libfuzzer_sys::fuzz_target;

const SEQUENCE: Tag = Tag(0x30);
const SET: Tag = Tag(0x31);
const INTEGER: Tag = Tag(0x02);
const OCTET_STRING: Tag = Tag(0x04);
const OBJECT_IDENTIFIER: Tag = Tag(0x06);
const CONTEXT_0: Tag = Tag(0xA0);

fn tlv(tag: Tag, value: &[u8]) -> Option<Vec<u8>> {
    encode_tlv(tag, value).ok()
}

/// ContentInfo(SignedData) around `econtent`, shaped like a real EF.SOD (no real signature).
fn envelope(econtent: &[u8]) -> Option<Vec<u8>> {
    let encap = tlv(
        SEQUENCE,
        &[
            tlv(OBJECT_IDENTIFIER, &encode_oid(OID_LDS_SECURITY_OBJECT)?)?,
            tlv(CONTEXT_0, &tlv(OCTET_STRING, econtent)?)?,
        ]
        .concat(),
    )?;
    let sha256 = tlv(OBJECT_IDENTIFIER, &encode_oid("2.16.840.1.101.3.4.2.1")?)?;
    let certificate = tlv(SEQUENCE, &tlv(SEQUENCE, &[])?)?;
    let signed_data = tlv(
        SEQUENCE,
        &[
            tlv(INTEGER, &[3])?,
            tlv(SET, &tlv(SEQUENCE, &sha256)?)?,
            encap,
            tlv(CONTEXT_0, &certificate)?,
            tlv(SET, &[])?,
        ]
        .concat(),
    )?;
    let content_info = tlv(
        SEQUENCE,
        &[
            tlv(OBJECT_IDENTIFIER, &encode_oid(OID_SIGNED_DATA)?)?,
            tlv(CONTEXT_0, &signed_data)?,
        ]
        .concat(),
    )?;
    tlv(Tag::EF_SOD, &content_info)
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_sod(data);
    let _ = LdsSecurityObject::parse(data);
    let _ = decode_oid(data);
    if let Some(sod) = envelope(data) {
        let _ = parse_sod(&sod);
    }
});
