//! One record: decrypt and verify a received mutation, or encrypt one of ours.

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use prost::Message as _;

use super::AppStateError;
use super::index::parse_index;
use super::keys::AppStateKeys;
use super::mac::{Operation, index_mac, mac_eq, value_mac};
use crate::pb::sync_action::{SyncActionData, SyncActionValue};
use crate::pb::syncd::{KeyId, SyncdIndex, SyncdMutation, SyncdRecord, SyncdValue};

const IV_LEN: usize = 16;
const VALUE_MAC_LEN: usize = 32;

/// A decrypted and verified mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMutation {
    /// SET or REMOVE.
    pub operation: Operation,
    /// The index, e.g. `["mute", "<jid>"]`.
    pub index: Vec<String>,
    /// The record's index MAC (its identity in the collection).
    pub index_mac: [u8; 32],
    /// The record's value MAC (what the LTHash sums).
    pub value_mac: [u8; 32],
    /// The app-state key that encrypted it.
    pub key_id: Vec<u8>,
    /// `SyncActionData.version` (the action's schema version).
    pub version: Option<i32>,
    /// The action itself.
    pub value: Option<SyncActionValue>,
}

/// Splits a value blob into IV ‖ ciphertext (the MACed part) and the value MAC.
pub(crate) fn split_value_blob(blob: &[u8]) -> Result<(&[u8], [u8; 32]), AppStateError> {
    let len = blob.len();
    if len < IV_LEN + 16 + VALUE_MAC_LEN || !(len - IV_LEN - VALUE_MAC_LEN).is_multiple_of(16) {
        return Err(AppStateError::BadValueBlob { len });
    }
    let (content, mac) = blob.split_at(len - VALUE_MAC_LEN);
    let mut value_mac = [0u8; 32];
    value_mac.copy_from_slice(mac);
    Ok((content, value_mac))
}

/// The record's 32-byte index MAC.
pub(crate) fn record_index_mac(record: &SyncdRecord) -> Result<[u8; 32], AppStateError> {
    let blob = record
        .index
        .as_ref()
        .and_then(|i| i.blob.as_deref())
        .ok_or(AppStateError::MissingField {
            field: "record.index",
        })?;
    blob.try_into().map_err(|_| AppStateError::BadFieldLength {
        field: "record.index",
        expected: 32,
        actual: blob.len(),
    })
}

pub(crate) fn record_value_blob(record: &SyncdRecord) -> Result<&[u8], AppStateError> {
    record
        .value
        .as_ref()
        .and_then(|v| v.blob.as_deref())
        .ok_or(AppStateError::MissingField {
            field: "record.value",
        })
}

pub(crate) fn record_key_id(record: &SyncdRecord) -> Result<&[u8], AppStateError> {
    record
        .key_id
        .as_ref()
        .and_then(|k| k.id.as_deref())
        .ok_or(AppStateError::MissingField {
            field: "record.keyId",
        })
}

/// Decrypts one record with `keys` (the expansion of the key its `keyId` names).
///
/// With `verify_macs` (the default everywhere else) a wrong value MAC or index
/// MAC is an error; without it only decryption and parsing are checked.
pub fn decrypt_mutation(
    operation: Operation,
    record: &SyncdRecord,
    keys: &AppStateKeys,
    verify_macs: bool,
) -> Result<DecodedMutation, AppStateError> {
    let key_id = record_key_id(record)?;
    let index_mac_got = record_index_mac(record)?;
    let (content, value_mac_got) = split_value_blob(record_value_blob(record)?)?;
    if verify_macs && !mac_eq(&value_mac(keys, operation, key_id, content), &value_mac_got) {
        return Err(AppStateError::ValueMacMismatch);
    }
    let (iv, ciphertext) = content.split_at(IV_LEN);
    let plaintext = cbc::Decryptor::<Aes256>::new(&keys.value_encryption.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| AppStateError::BadPadding)?;
    let data = SyncActionData::decode(plaintext.as_slice()).map_err(|e| {
        AppStateError::BadSyncActionData {
            reason: e.to_string(),
        }
    })?;
    let index_json = data.index.as_deref().unwrap_or_default();
    if verify_macs && !mac_eq(&index_mac(keys, index_json), &index_mac_got) {
        return Err(AppStateError::IndexMacMismatch);
    }
    Ok(DecodedMutation {
        operation,
        index: parse_index(index_json)?,
        index_mac: index_mac_got,
        value_mac: value_mac_got,
        key_id: key_id.to_vec(),
        version: data.version,
        value: data.value,
    })
}

/// Encrypts a `SyncActionData` into a mutation: value blob `IV ‖ AES-256-CBC ‖
/// valueMAC`, index blob `HMAC(indexKey, data.index)`. `iv` must be fresh
/// randomness (an argument so that tests are deterministic).
///
/// ```
/// use whatsapp_proto::appstate::{self, AppStateKeys, Operation};
/// use whatsapp_proto::pb::sync_action::SyncActionData;
/// let keys = AppStateKeys::expand(&[1; 32]);
/// let data = SyncActionData {
///     index: Some(appstate::encode_index(&["setting_pushName"])),
///     value: None,
///     padding: Some(vec![]),
///     version: Some(1),
/// };
/// let m = appstate::encrypt_mutation(&keys, b"key1", Operation::Set, &data, [0; 16]);
/// let back = appstate::decrypt_mutation(Operation::Set, m.record.as_ref().unwrap(), &keys, true).unwrap();
/// assert_eq!(back.index, ["setting_pushName"]);
/// ```
pub fn encrypt_mutation(
    keys: &AppStateKeys,
    key_id: &[u8],
    operation: Operation,
    data: &SyncActionData,
    iv: [u8; 16],
) -> SyncdMutation {
    let ciphertext = cbc::Encryptor::<Aes256>::new(&keys.value_encryption.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(&data.encode_to_vec());
    let mut blob = Vec::with_capacity(IV_LEN + ciphertext.len() + VALUE_MAC_LEN);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&ciphertext);
    let mac = value_mac(keys, operation, key_id, &blob);
    blob.extend_from_slice(&mac);
    let index = index_mac(keys, data.index.as_deref().unwrap_or_default());
    SyncdMutation {
        operation: Some(operation.wire_value()),
        record: Some(SyncdRecord {
            index: Some(SyncdIndex {
                blob: Some(index.to_vec()),
            }),
            value: Some(SyncdValue { blob: Some(blob) }),
            key_id: Some(KeyId {
                id: Some(key_id.to_vec()),
            }),
        }),
    }
}
