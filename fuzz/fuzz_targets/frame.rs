#![no_main]
//! Any byte stream, cut at fuzzer-chosen points: the frame decoders never panic.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(1, |&b| usize::from(b).max(1));
    for mut decoder in [FrameDecoder::new(), FrameDecoder::server()] {
        for piece in data.chunks(cut) {
            decoder.push(piece);
            while let Ok(Some(_)) = decoder.next_frame() {}
        }
    }
});
