#![no_main]
//! Any text: JID parsing never panics, and a parsed JID prints and parses back to itself.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::jid::Jid;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jid) = text.parse::<Jid>() {
            let printed = jid.to_string();
            if let Ok(again) = printed.parse::<Jid>() {
                assert_eq!(again.to_string(), printed);
            }
        }
    }
});
