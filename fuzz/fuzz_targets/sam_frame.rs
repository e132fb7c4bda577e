//! Fuzzes the SAM frame decoder: arbitrary bytes in arbitrary chunks, every frame it yields parsed
//! as each response type, and the command side.

#![no_main]

use enroll_core::domain::sam_frame::{
    FrameDecoder, SamCommand, parse_appended_address_response, parse_base_message_response,
    parse_find_response, parse_fingerprint_message_response, parse_sam_id_response,
    parse_select_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so splits land everywhere.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut responses = FrameDecoder::new();
    let mut commands = FrameDecoder::with_max_len(64);
    for piece in rest.chunks(chunk) {
        responses.push(piece);
        commands.push(piece);
        while let Some(result) = responses.next_frame() {
            if let Ok(frame) = result {
                let _ = parse_find_response(&frame);
                let _ = parse_select_response(&frame);
                let _ = parse_sam_id_response(&frame).map(|id| id.to_string());
                let _ = parse_base_message_response(&frame);
                let _ = parse_fingerprint_message_response(&frame);
                let _ = parse_appended_address_response(&frame);
                // A decoded frame encodes back to bytes that decode to the same frame.
                if let Ok(bytes) = frame.encode() {
                    let mut again = FrameDecoder::new();
                    again.push(&bytes);
                    assert_eq!(again.next_frame(), Some(Ok(frame)));
                }
            }
        }
        while let Some(result) = commands.next_command() {
            if let Ok(command) = result {
                let _ = SamCommand::from_command_frame(&command).map(SamCommand::to_frame);
            }
        }
    }
});
