#![no_main]
//! Any bytes as a handshake message (both roles' reading steps) and as transport frames:
//! never a panic.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::noise::{self, HandshakeConfig, Transport};
use whatsapp_proto::xeddsa::KeyPair;

fuzz_target!(|data: &[u8]| {
    let _ = noise::parse_handshake_message(data);
    let config = HandshakeConfig::default();
    let responder = noise::respond(&config, KeyPair::from_private([7; 32]), KeyPair::from_private([9; 32]));
    let _ = responder.read_client_hello(data);
    let (initiator, _hello) =
        noise::initiate(&config, KeyPair::from_private([3; 32]), KeyPair::from_private([5; 32]));
    let _ = initiator.read_server_hello(data, 1_750_000_000);
    let mut transport = Transport::from_keys([1; 32], [2; 32]);
    let _ = transport.decrypt(data);
});
