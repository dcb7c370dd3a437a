//! `wabin`: encode and decode WhatsApp binary nodes from the shell, so other
//! implementations can be compared with this one.
//!
//! ```text
//! wabin encode < node.json   # prints the hex of flags byte + node
//! wabin decode < frame.hex   # prints the node JSON on one line (flags 0x02 = deflated)
//! ```
//!
//! JSON follows ../shared/vectors/README.md; text that parses as a JID is written as one,
//! as Baileys does. Bad input exits 1 with a one-line error on stderr.

// Test and tool code, outside the sans-IO rule of clippy.toml.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::Read;
use std::process::ExitCode;

use whatsapp_proto::binary::json::{from_hex, node_from_json, node_to_json, to_hex};
use whatsapp_proto::binary::{Encoder, decode_frame_plaintext};

fn run(command: &str, input: &str) -> Result<String, String> {
    match command {
        "encode" => {
            let json: serde_json::Value =
                serde_json::from_str(input).map_err(|e| format!("input is not JSON: {e}"))?;
            let node = node_from_json(&json).map_err(|e| format!("input is not a node: {e}"))?;
            let bytes = Encoder::new()
                .jids_from_text(true)
                .frame_plaintext(&node)
                .map_err(|e| format!("cannot encode: {e}"))?;
            Ok(to_hex(&bytes))
        }
        "decode" => {
            let bytes = from_hex(input).ok_or("input is not hex")?;
            let node = decode_frame_plaintext(&bytes).map_err(|e| format!("cannot decode: {e}"))?;
            Ok(node_to_json(&node).to_string())
        }
        other => Err(format!(
            "unknown command {other:?}; use `encode` or `decode`"
        )),
    }
}

fn main() -> ExitCode {
    let Some(command) = std::env::args().nth(1) else {
        eprintln!("usage: wabin encode|decode < input");
        return ExitCode::FAILURE;
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    match run(&command, &input) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
