//! AES-256-CBC with PKCS#7, the symmetric cipher of `msg`, `pkmsg` and `skmsg` (part 2 §1.9).

use aes::Aes256;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

use super::error::SignalError;

pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

pub(crate) fn decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(SignalError::BadCiphertext {
            reason: "length is not a positive multiple of 16",
        });
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SignalError::BadCiphertext {
            reason: "bad PKCS#7 padding",
        })
}
