//! Private key material is wiped when dropped and is never `Copy`.

use whatsapp_proto::appstate::AppStateKeys;
use whatsapp_proto::signal::{KeyPair, PrivateKey};
use whatsapp_proto::xeddsa;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Compiles only for types that wipe themselves when dropped.
fn wiped_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn private_key_types_are_wiped_on_drop() {
    wiped_on_drop::<PrivateKey>();
    wiped_on_drop::<xeddsa::KeyPair>();
    wiped_on_drop::<AppStateKeys>();
    wiped_on_drop::<whatsapp_proto::signal::ratchet::ChainKey>();
    wiped_on_drop::<whatsapp_proto::signal::ratchet::MessageKeys>();
    wiped_on_drop::<whatsapp_proto::signal::ratchet::SenderMessageKeys>();
}

#[test]
fn zeroize_clears_the_key_bytes() {
    let mut signal = PrivateKey::from_bytes([7; 32]);
    signal.zeroize();
    assert_eq!(signal.to_bytes(), [0; 32]);

    let mut pair = KeyPair::from_private(PrivateKey::from_bytes([9; 32]));
    pair.private.zeroize();
    assert_eq!(pair.private.to_bytes(), [0; 32]);

    let mut noise = xeddsa::KeyPair::from_private([5; 32]);
    noise.zeroize();
    assert_eq!(noise.private(), &[0; 32]);
    assert_eq!(noise.public(), &[0; 32]);

    let mut keys = AppStateKeys::expand(&[3; 32]);
    keys.zeroize();
    assert_eq!(keys.to_bytes(), [0; 160]);
}
