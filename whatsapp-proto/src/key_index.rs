//! ADV key-index lists: which companion devices an account's primary phone still vouches for
//! (fact sheet part 2 §3.3).
//!
//! The server sends a `<key-index-list>` next to every device list (usync answers and
//! `devices` notifications). Its bytes are an `ADVSignedKeyIndexList` whose `details` (an
//! `ADVKeyIndexList`) the primary signed with its account identity key (XEdDSA over
//! `[6, 2] ‖ details`, Cobalt `DeviceADVValidator`). A companion the phone unlinked drops out
//! of `valid_indexes`; a client that trusts the server's device list alone would keep
//! encrypting to it. Filtering rule (whatsapp-rust `wacore/src/adv.rs`
//! `filter_devices_by_key_index`, from WA Web `AdvKeyIndexResultApi`): keep device 0 always,
//! keep a companion iff its `key-index` is in `valid_indexes` or above `current_index`, and
//! drop a companion without a `key-index` (Baileys `extractDeviceJids` drops those as well).
//!
//! Pure code: the caller supplies the bytes and, when it has one, the identity it already
//! holds for the user's primary device.

use prost::Message as _;
use rand_core::{CryptoRng, RngCore};

use crate::pb::adv::{AdvKeyIndexList, AdvSignedKeyIndexList};
use crate::signal::{KeyPair, PublicKey};

/// Signature prefix of a key-index list (Cobalt `DeviceADVValidator`
/// `ADV_PREFIX_KEY_INDEX_LIST_ACCOUNT_SIGNATURE`; part 2 §3.3).
pub const ADV_KEY_INDEX_LIST_PREFIX: [u8; 2] = [6, 2];

/// Why a key-index list is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyIndexError {
    /// The bytes (or the `details` inside) are not the expected protobuf.
    #[error("key-index list does not decode: {0}")]
    Decode(String),
    /// A field the list needs is absent.
    #[error("key-index list lacks {0}")]
    Missing(&'static str),
    /// `account_signature_key` is not a Curve25519 public key.
    #[error("key-index list has an account key of {0} bytes")]
    BadAccountKey(usize),
    /// The signature does not verify with the account key it names.
    #[error("key-index list signature does not verify")]
    BadSignature,
    /// It verifies, but with a key other than the identity we hold for the primary device.
    #[error("key-index list is signed by a key other than the primary device's identity")]
    NotThePrimary,
}

/// A verified key-index list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIndexList {
    /// The account's ADV id (changes when the account re-registers).
    pub raw_id: u32,
    /// When the phone signed it (unix seconds).
    pub timestamp: u64,
    /// The highest key index the phone has issued.
    pub current_index: u32,
    /// Key indexes of companions still linked.
    pub valid_indexes: Vec<u32>,
    /// The key that signed it: the primary device's identity key. `None` for a list that
    /// named no key while we held none for the primary: accepted unverified (see
    /// [`verify_key_index_list`]).
    pub account_key: Option<PublicKey>,
}

impl KeyIndexList {
    /// Whether a device of the account is to be kept: device 0 always; a companion iff its
    /// key index is valid or newer than the list (linked after the phone signed it).
    ///
    /// ```
    /// # use whatsapp_proto::key_index::KeyIndexList;
    /// # use whatsapp_proto::signal::PublicKey;
    /// let list = KeyIndexList {
    ///     raw_id: 1,
    ///     timestamp: 0,
    ///     current_index: 4,
    ///     valid_indexes: vec![2, 4],
    ///     account_key: Some(PublicKey::from_raw([9; 32])),
    /// };
    /// assert!(list.keeps(0, None));
    /// assert!(list.keeps(7, Some(4)));
    /// assert!(!list.keeps(6, Some(3))); // unlinked by the phone
    /// assert!(list.keeps(8, Some(5))); // newer than the list
    /// assert!(!list.keeps(9, None)); // a companion must name its key index
    /// ```
    pub fn keeps(&self, device: u16, key_index: Option<u32>) -> bool {
        device == 0
            || key_index.is_some_and(|k| self.valid_indexes.contains(&k) || k > self.current_index)
    }

    /// The items of `devices` that [`KeyIndexList::keeps`], in order; `id` gives each item's
    /// device number and key index.
    pub fn filter<T>(&self, devices: Vec<T>, id: impl Fn(&T) -> (u16, Option<u32>)) -> Vec<T> {
        devices
            .into_iter()
            .filter(|d| {
                let (device, key_index) = id(d);
                self.keeps(device, key_index)
            })
            .collect()
    }
}

/// Decodes a signed key-index list and checks its account signature. When the caller holds
/// the primary device's identity key (`primary`), the list must be signed by that key. A list
/// without `account_signature_key` is checked with `primary` instead, and with no key on
/// either side it is accepted unverified (`account_key: None`).
///
/// No reference checks key-index signatures this way: whatsapp-rust `wacore/src/adv.rs`
/// `decode_key_index_list` verifies none (the Noise connection authenticates the server) and
/// whatsmeow reads no list. The fallback key is the rule WA Web and whatsapp-rust
/// (`validate_adv_with_identity_key`, `e.accountSignatureKey || t`) apply to a device's
/// `ADVSignedDeviceIdentity`, whose `NoAccountKey` outcome they log and proceed past;
/// carrying both to lists is a guess.
///
/// ```
/// use rand::SeedableRng;
/// use whatsapp_proto::key_index::{KeyIndexError, sign_key_index_list, verify_key_index_list};
/// use whatsapp_proto::signal::KeyPair;
/// let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
/// let account = KeyPair::generate(&mut rng);
/// let signed = sign_key_index_list(&account, 77, 1_700_000_000, 3, &[1, 3], &mut rng);
/// let list = verify_key_index_list(&signed, Some(&account.public)).unwrap();
/// assert_eq!((list.current_index, list.valid_indexes), (3, vec![1, 3]));
/// let other = KeyPair::generate(&mut rng);
/// assert_eq!(
///     verify_key_index_list(&signed, Some(&other.public)),
///     Err(KeyIndexError::NotThePrimary)
/// );
/// ```
pub fn verify_key_index_list(
    signed: &[u8],
    primary: Option<&PublicKey>,
) -> Result<KeyIndexList, KeyIndexError> {
    let signed =
        AdvSignedKeyIndexList::decode(signed).map_err(|e| KeyIndexError::Decode(e.to_string()))?;
    let details = signed.details.ok_or(KeyIndexError::Missing("details"))?;
    let named = match signed.account_signature_key.filter(|k| !k.is_empty()) {
        Some(bytes) => Some(
            PublicKey::from_slice(&bytes).map_err(|_| KeyIndexError::BadAccountKey(bytes.len()))?,
        ),
        None => None,
    };
    // guess: the device-identity rule (named key, else the primary's) carried to lists, and
    // no key at all accepted as whatsapp-rust accepts every list; see the doc above.
    let account_key = named.or_else(|| primary.cloned());
    if let Some(key) = &account_key {
        let signature = signed
            .account_signature
            .ok_or(KeyIndexError::Missing("account_signature"))?;
        let message = [&ADV_KEY_INDEX_LIST_PREFIX[..], &details].concat();
        if !key.verify_signature(&message, &signature) {
            return Err(KeyIndexError::BadSignature);
        }
        if primary.is_some_and(|p| p != key) {
            return Err(KeyIndexError::NotThePrimary);
        }
    }
    let list =
        AdvKeyIndexList::decode(&details[..]).map_err(|e| KeyIndexError::Decode(e.to_string()))?;
    Ok(KeyIndexList {
        raw_id: list.raw_id.ok_or(KeyIndexError::Missing("raw_id"))?,
        timestamp: list.timestamp.unwrap_or(0),
        current_index: list.current_index.unwrap_or(0),
        valid_indexes: list.valid_indexes,
        account_key,
    })
}

/// Screens a user's device list with the `<key-index-list>` that came with it: the devices
/// to encrypt to, and why the list was not trusted, if it was not.
///
/// * A verified list filters the devices ([`KeyIndexList::keeps`]).
/// * A list that is absent (while the user has companions), fails to decode, fails its
///   signature, or is signed by a key other than `primary`: only device 0 is kept. This is
///   what WA Web does with a result it cannot validate (`handleOmittedResult` collapses it
///   to the primary, as whatsapp-rust `wacore/src/iq/usync.rs` records); whatsmeow checks
///   nothing. The primary is the one device whose identity a session proves on its own, and
///   the user's phone still gets the message.
/// * A user with no companions keeps device 0 whether a list came or not (an unusable list
///   is still reported).
///
/// ```
/// use rand::SeedableRng;
/// use whatsapp_proto::key_index::{KeyIndexError, screen_devices, sign_key_index_list};
/// use whatsapp_proto::signal::KeyPair;
/// let mut rng = rand_chacha::ChaCha20Rng::from_seed([5; 32]);
/// let account = KeyPair::generate(&mut rng);
/// let devices = vec![(0u16, None), (1, Some(1)), (2, Some(2))];
/// let signed = sign_key_index_list(&account, 9, 100, 2, &[2], &mut rng);
/// let (kept, problem) = screen_devices(devices.clone(), |d| *d, Some(&signed), None);
/// assert_eq!((kept, problem), (vec![(0, None), (2, Some(2))], None));
/// let (kept, problem) = screen_devices(devices, |d| *d, None, None);
/// assert_eq!(kept, vec![(0, None)]);
/// assert_eq!(problem, Some(KeyIndexError::Missing("key-index-list")));
/// ```
pub fn screen_devices<T>(
    devices: Vec<T>,
    id: impl Fn(&T) -> (u16, Option<u32>),
    signed: Option<&[u8]>,
    primary: Option<&PublicKey>,
) -> (Vec<T>, Option<KeyIndexError>) {
    let has_companions = devices.iter().any(|d| id(d).0 != 0);
    let verdict = match signed.filter(|s| !s.is_empty()) {
        Some(bytes) => verify_key_index_list(bytes, primary),
        None if has_companions => Err(KeyIndexError::Missing("key-index-list")),
        None => return (devices, None),
    };
    match verdict {
        Ok(list) => (list.filter(devices, id), None),
        Err(e) => {
            let primary_only = devices.into_iter().filter(|d| id(d).0 == 0).collect();
            (primary_only, Some(e))
        }
    }
}

/// What a primary phone signs: an `ADVSignedKeyIndexList` over the given indexes, with the
/// account key's raw 32 bytes as `account_signature_key` (the phone's side, for servers and
/// tests).
pub fn sign_key_index_list(
    account: &KeyPair,
    raw_id: u32,
    timestamp: u64,
    current_index: u32,
    valid_indexes: &[u32],
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let details = AdvKeyIndexList {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        current_index: Some(current_index),
        valid_indexes: valid_indexes.to_vec(),
        account_type: None,
    }
    .encode_to_vec();
    let message = [&ADV_KEY_INDEX_LIST_PREFIX[..], &details].concat();
    AdvSignedKeyIndexList {
        account_signature: Some(account.private.sign(&message, rng).to_vec()),
        account_signature_key: Some(account.public.as_bytes().to_vec()),
        details: Some(details),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn keys() -> (KeyPair, KeyPair, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        (
            KeyPair::generate(&mut rng),
            KeyPair::generate(&mut rng),
            rng,
        )
    }

    #[test]
    fn a_signed_list_verifies_with_and_without_a_known_primary() {
        let (account, _, mut rng) = keys();
        let signed = sign_key_index_list(&account, 5, 1_700_000_123, 6, &[2, 6], &mut rng);
        let expected = KeyIndexList {
            raw_id: 5,
            timestamp: 1_700_000_123,
            current_index: 6,
            valid_indexes: vec![2, 6],
            account_key: Some(account.public),
        };
        assert_eq!(verify_key_index_list(&signed, None), Ok(expected.clone()));
        assert_eq!(
            verify_key_index_list(&signed, Some(&account.public)),
            Ok(expected)
        );
    }

    #[test]
    fn the_signature_covers_the_prefix_and_every_detail() {
        let (account, _, mut rng) = keys();
        let signed = sign_key_index_list(&account, 5, 10, 6, &[2, 6], &mut rng);
        let mut decoded = AdvSignedKeyIndexList::decode(&signed[..]).unwrap();
        // One more valid index, same signature: refused.
        let mut details = AdvKeyIndexList::decode(&decoded.details.clone().unwrap()[..]).unwrap();
        details.valid_indexes.push(3);
        decoded.details = Some(details.encode_to_vec());
        assert_eq!(
            verify_key_index_list(&decoded.encode_to_vec(), None),
            Err(KeyIndexError::BadSignature)
        );
        // A signature without the [6, 2] prefix (e.g. an account signature [6, 0]): refused.
        let details = AdvSignedKeyIndexList::decode(&signed[..]).unwrap().details;
        let unprefixed = account.private.sign(
            &[&[6u8, 0][..], details.as_deref().unwrap()].concat(),
            &mut rng,
        );
        let forged = AdvSignedKeyIndexList {
            details,
            account_signature: Some(unprefixed.to_vec()),
            account_signature_key: Some(account.public.as_bytes().to_vec()),
        };
        assert_eq!(
            verify_key_index_list(&forged.encode_to_vec(), None),
            Err(KeyIndexError::BadSignature)
        );
    }

    #[test]
    fn a_list_signed_by_another_key_is_refused_once_the_primary_is_known() {
        let (account, stranger, mut rng) = keys();
        // The stranger signs correctly with its own key: fine on its face, wrong for this user.
        let signed = sign_key_index_list(&stranger, 5, 10, 1, &[1], &mut rng);
        assert!(verify_key_index_list(&signed, None).is_ok());
        assert_eq!(
            verify_key_index_list(&signed, Some(&account.public)),
            Err(KeyIndexError::NotThePrimary)
        );
        // Claiming the account key while signing with another one: a bad signature.
        let mut decoded = AdvSignedKeyIndexList::decode(&signed[..]).unwrap();
        decoded.account_signature_key = Some(account.public.serialize().to_vec());
        assert_eq!(
            verify_key_index_list(&decoded.encode_to_vec(), Some(&account.public)),
            Err(KeyIndexError::BadSignature)
        );
    }

    #[test]
    fn malformed_lists_are_errors_not_panics() {
        let (account, _, mut rng) = keys();
        assert!(matches!(
            verify_key_index_list(&[0xff, 0xff, 0xff], None),
            Err(KeyIndexError::Decode(_))
        ));
        assert_eq!(
            verify_key_index_list(&[], None),
            Err(KeyIndexError::Missing("details"))
        );
        let signed = sign_key_index_list(&account, 5, 10, 1, &[1], &mut rng);
        let mut decoded = AdvSignedKeyIndexList::decode(&signed[..]).unwrap();
        decoded.account_signature_key = Some(vec![1; 31]);
        assert_eq!(
            verify_key_index_list(&decoded.encode_to_vec(), None),
            Err(KeyIndexError::BadAccountKey(31))
        );
        // No key in the list and none held: decodes, unverified.
        decoded.account_signature_key = None;
        decoded.account_signature = None;
        assert!(verify_key_index_list(&decoded.encode_to_vec(), None).is_ok());
        // A key to check with, but no signature.
        assert_eq!(
            verify_key_index_list(&decoded.encode_to_vec(), Some(&account.public)),
            Err(KeyIndexError::Missing("account_signature"))
        );
        // Details that are not an ADVKeyIndexList, correctly signed.
        let details = vec![0x0a, 0x05];
        let garbage = AdvSignedKeyIndexList {
            account_signature: Some(
                account
                    .private
                    .sign(
                        &[&ADV_KEY_INDEX_LIST_PREFIX[..], &details].concat(),
                        &mut rng,
                    )
                    .to_vec(),
            ),
            account_signature_key: Some(account.public.as_bytes().to_vec()),
            details: Some(details),
        };
        assert!(matches!(
            verify_key_index_list(&garbage.encode_to_vec(), None),
            Err(KeyIndexError::Decode(_))
        ));
    }

    #[test]
    fn a_list_without_its_account_key_is_checked_with_the_primary_or_accepted() {
        let (account, stranger, mut rng) = keys();
        let signed = sign_key_index_list(&account, 5, 10, 6, &[2, 6], &mut rng);
        let mut keyless = AdvSignedKeyIndexList::decode(&signed[..]).unwrap();
        keyless.account_signature_key = None;
        let keyless = keyless.encode_to_vec();
        // The stored device-0 identity stands in for the missing key.
        let list = verify_key_index_list(&keyless, Some(&account.public)).unwrap();
        assert_eq!(
            (list.valid_indexes.clone(), list.account_key),
            (vec![2, 6], Some(account.public))
        );
        assert_eq!(
            verify_key_index_list(&keyless, Some(&stranger.public)),
            Err(KeyIndexError::BadSignature)
        );
        // No key anywhere: accepted unverified, and it still filters.
        let list = verify_key_index_list(&keyless, None).unwrap();
        assert_eq!(list.account_key, None);
        let devices: Vec<(u16, Option<u32>)> = vec![(0, None), (1, Some(1)), (2, Some(2))];
        let (kept, problem) = screen_devices(devices, |d| *d, Some(&keyless), None);
        assert_eq!((kept, problem), (vec![(0, None), (2, Some(2))], None));
    }

    #[test]
    fn screening_falls_back_to_the_primary_on_any_unusable_list() {
        let (account, stranger, mut rng) = keys();
        let devices: Vec<(u16, Option<u32>)> = vec![(0, None), (3, Some(1)), (4, Some(2))];
        let good = sign_key_index_list(&account, 5, 10, 2, &[2], &mut rng);
        let (kept, problem) =
            screen_devices(devices.clone(), |d| *d, Some(&good), Some(&account.public));
        assert_eq!(kept, vec![(0, None), (4, Some(2))]);
        assert_eq!(problem, None);

        let mut bad = AdvSignedKeyIndexList::decode(&good[..]).unwrap();
        if let Some(s) = bad.account_signature.as_mut() {
            s[10] ^= 0x40;
        }
        let other = sign_key_index_list(&stranger, 5, 10, 2, &[1, 2], &mut rng);
        for (bytes, expected) in [
            (bad.encode_to_vec(), KeyIndexError::BadSignature),
            (other, KeyIndexError::NotThePrimary),
            (Vec::new(), KeyIndexError::Missing("key-index-list")),
        ] {
            let (kept, problem) =
                screen_devices(devices.clone(), |d| *d, Some(&bytes), Some(&account.public));
            assert_eq!(kept, vec![(0, None)]);
            assert_eq!(problem, Some(expected));
        }
        // No companions: nothing to screen, but a bad list is still reported.
        let alone: Vec<(u16, Option<u32>)> = vec![(0, None)];
        assert_eq!(
            screen_devices(alone.clone(), |d| *d, None, None),
            (alone.clone(), None)
        );
        let (kept, problem) = screen_devices(alone.clone(), |d| *d, Some(&[0xff, 0xff]), None);
        assert_eq!(kept, alone);
        assert!(matches!(problem, Some(KeyIndexError::Decode(_))));
    }

    #[test]
    fn filtering_keeps_the_primary_valid_and_newer_companions() {
        let (account, _, mut rng) = keys();
        let signed = sign_key_index_list(&account, 5, 10, 6, &[2, 6], &mut rng);
        let list = verify_key_index_list(&signed, Some(&account.public)).unwrap();
        let devices: Vec<(u16, Option<u32>)> = vec![
            (0, None),
            (1, Some(1)), // unlinked: below current, not valid
            (2, Some(2)),
            (3, None), // no key index: dropped
            (4, Some(6)),
            (5, Some(7)), // newer than the list
            (6, Some(5)), // unlinked
        ];
        let kept = list.filter(devices, |d| *d);
        assert_eq!(
            kept,
            vec![(0, None), (2, Some(2)), (4, Some(6)), (5, Some(7))]
        );
    }
}
