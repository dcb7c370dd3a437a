//! Noise handshake, transport cipher, certificate chain, XEdDSA and ClientPayload tests.

use serde_json::Value;
use whatsapp_proto::xeddsa;

fn vectors(rel: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/").to_owned() + rel;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))).unwrap()
}

fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

#[test]
fn xeddsa_reproduces_libsignal_spk_signature() {
    let kat = &vectors("crypto/signal_kat.json")["spk_signature"];
    let private: [u8; 32] = arr(&hex_field(kat, "signing_priv"));
    let message = hex_field(kat, "message_0x05_spk_pub");
    let random: [u8; 64] = arr(&hex_field(kat, "random64"));
    let expected: [u8; 64] = arr(&hex_field(kat, "signature"));
    assert_eq!(xeddsa::sign(&private, &message, &random), expected);
    let public = xeddsa::public_key(&private);
    assert!(xeddsa::verify(&public, &message, &expected));
    let mut tampered = message.clone();
    tampered[5] ^= 1;
    assert!(!xeddsa::verify(&public, &tampered, &expected));
}
