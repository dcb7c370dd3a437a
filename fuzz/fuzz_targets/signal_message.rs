#![no_main]
//! Any bytes as each Signal wire message: never a panic; what decodes keeps its bytes.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::signal::{
    PreKeyWhisperMessage, SenderKeyDistributionMessage, SenderKeyMessage, WhisperMessage,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = WhisperMessage::decode(data) {
        assert_eq!(m.serialized(), data);
    }
    let _ = PreKeyWhisperMessage::decode(data);
    let _ = SenderKeyMessage::decode(data);
    let _ = SenderKeyDistributionMessage::decode(data);
});
