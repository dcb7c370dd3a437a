//! The signed key-index list the server hands out with an account's device list (part 2
//! §3.2–3.4): signed by the account's primary identity key, `current_index` the highest key
//! index the phone issued, `valid_indexes` the companions it still vouches for. Controls make
//! it say less than the device list: a stale companion (the phone revoked its key index, the
//! server still lists the device), a forged signature, no account key; and one marks devices
//! as hosted in the list.

use std::collections::BTreeSet;

use prost::Message as _;
use rand::rngs::OsRng;
use tracing::info;
use whatsapp_proto::key_index::sign_key_index_list;
use whatsapp_proto::pb::adv::AdvSignedKeyIndexList;

use super::{Account, State};
use crate::SimError;

/// What the account's phone did to its key-index list (beyond linking and unlinking).
#[derive(Debug, Default)]
pub(crate) struct KeyIndexControls {
    /// Key indexes the phone revoked while the server still lists their devices.
    pub revoked: BTreeSet<u32>,
    /// Lists go out with a signature that does not verify.
    pub forged: bool,
    /// Lists go out without `account_signature_key`.
    pub keyless: bool,
    /// Devices listed `is_hosted`.
    pub hosted: BTreeSet<u16>,
}

impl Account {
    /// Key indexes of the companions the phone vouches for.
    pub(super) fn key_indexes(&self) -> Vec<u32> {
        self.devices
            .iter()
            .filter(|(id, d)| **id != 0 && !self.key_index_controls.revoked.contains(&d.key_index))
            .map(|(_, d)| d.key_index)
            .collect()
    }

    /// The `ADVSignedKeyIndexList` bytes of a `<key-index-list ts>` for this account.
    pub(super) fn signed_key_index_list(&self, ts: u64) -> Vec<u8> {
        let mut rng = OsRng;
        let signed = sign_key_index_list(
            &self.key,
            self.raw_id,
            ts,
            self.next_key_index.saturating_sub(1),
            &self.key_indexes(),
            &mut rng,
        );
        let controls = &self.key_index_controls;
        if !controls.forged && !controls.keyless {
            return signed;
        }
        let Ok(mut decoded) = AdvSignedKeyIndexList::decode(&signed[..]) else {
            return signed;
        };
        // A flipped bit in the signature: the details still decode, the signature fails.
        if controls.forged
            && let Some(byte) = decoded
                .account_signature
                .as_mut()
                .and_then(|s| s.first_mut())
        {
            *byte ^= 0x01;
        }
        if controls.keyless {
            decoded.account_signature_key = None;
        }
        decoded.encode_to_vec()
    }
}

impl State {
    /// The account's phone revokes a companion's key index, but the server keeps listing the
    /// device (`Fault::StaleCompanion`).
    pub(crate) fn make_companion_stale(&mut self, pn: &str, device: u16) -> Result<(), SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        let key_index = account
            .devices
            .get(&device)
            .filter(|_| device != 0)
            .map(|d| d.key_index)
            .ok_or_else(|| SimError::UnknownDevice(format!("{pn}:{device}")))?;
        account.key_index_controls.revoked.insert(key_index);
        info!(
            pn,
            device, key_index, "fault: companion left out of the signed key-index list"
        );
        Ok(())
    }

    /// The account's key-index lists go out without their account key
    /// (`Fault::KeyIndexListWithoutAccountKey`).
    pub(crate) fn key_index_lists_without_key(&mut self, pn: &str) -> Result<(), SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        account.key_index_controls.keyless = true;
        info!(pn, "key-index lists without their account key");
        Ok(())
    }

    /// One of the account's devices is listed as hosted (`Fault::HostedDevice`).
    pub(crate) fn make_device_hosted(&mut self, pn: &str, device: u16) -> Result<(), SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        if device == 0 || !account.devices.contains_key(&device) {
            return Err(SimError::UnknownDevice(format!("{pn}:{device}")));
        }
        account.key_index_controls.hosted.insert(device);
        info!(pn, device, "device listed as hosted");
        Ok(())
    }

    /// The account's key-index lists go out with a bad signature
    /// (`Fault::BadKeyIndexSignature`).
    pub(crate) fn forge_key_index_lists(&mut self, pn: &str) -> Result<(), SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        account.key_index_controls.forged = true;
        info!(pn, "fault: key-index lists signed wrongly");
        Ok(())
    }
}
