#![no_main]
//! Any bytes: decoding never panics, and whatever decodes re-encodes and decodes the same.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::binary::{decode_frame_plaintext, encode_frame_plaintext};

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = decode_frame_plaintext(data) {
        let bytes = encode_frame_plaintext(&node).expect("a decoded node re-encodes");
        let again = decode_frame_plaintext(&bytes).expect("re-encoded bytes decode");
        assert_eq!(encode_frame_plaintext(&again).expect("stable"), bytes);
    }
});
