//! Fuzzes the 256-byte identity text block parser (all four layouts) and the appended address; a
//! block that parses is encoded again, and the encoding must parse back to the same identity.

#![no_main]

use enroll_core::domain::id_text::{
    decode_appended_address, encode_text_block, layout_of, parse_text_block,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = layout_of(data);
    let _ = decode_appended_address(data);
    round_trip(data);
    // Most inputs are not 256 bytes long: also try the block padded or cut to size, with each
    // type flag, so the layout parsers see arbitrary field contents.
    let mut block = data.to_vec();
    block.resize(256, 0x20);
    for flag in [b' ', b'J', b'I', b'Y'] {
        if let Some(slot) = block.get_mut(248..250) {
            slot.copy_from_slice(&[flag, 0]);
        }
        round_trip(&block);
    }
});

fn round_trip(block: &[u8]) {
    let Ok(identity) = parse_text_block(block) else {
        return;
    };
    if let Ok(encoded) = encode_text_block(&identity) {
        let again = parse_text_block(&encoded);
        assert_eq!(
            again.as_ref(),
            Ok(&identity),
            "encode then parse changed the identity"
        );
    }
}
