//! Signal records under the LID (whatsmeow `MigratePNToLID` and its callers in message.go
//! and send.go): once a phone number's LID is known, its sessions, identities and sender keys
//! live under the LID, and messages are decrypted and encrypted with them whichever address
//! form a stanza carries.

use whatsapp_proto::jid::{Jid, Server};

use crate::context::{SessionGuard, Shared};
use crate::learned::first_time;
use crate::store::{Store, StoreError};

/// Moves the records of the phone-number user `pn` to its LID `lid` (whatsmeow
/// `migrateSessionStore`), once per process and pair, and keeps the mapping. Called with the
/// session lock held (`sessions` is the locked store).
pub(crate) async fn migrate_user(
    shared: &Shared,
    sessions: &dyn Store,
    pn: &str,
    lid: &str,
) -> Result<(), StoreError> {
    let key = (format!("migrated {pn}"), lid.to_owned());
    if !first_time(shared, key.0.clone(), &key.1) {
        return Ok(());
    }
    let migrated = async {
        shared
            .store
            .store_lid_mappings(&[(lid.to_owned(), pn.to_owned())])
            .await?;
        sessions.migrate_pn_to_lid(pn, lid).await
    };
    match migrated.await {
        Ok(moved) => {
            if moved > 0 {
                tracing::info!(pn, lid, moved, "moved Signal records to the LID");
            }
            Ok(())
        }
        Err(error) => {
            // Not done: the next message tries again.
            shared
                .stored_from_messages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(key);
            Err(error)
        }
    }
}

/// The LID user of a phone-number user: ours from the device record, others' from the store.
pub(crate) async fn lid_of(shared: &Shared, pn: &str) -> Result<Option<String>, StoreError> {
    let device = shared.device();
    if let (Some(jid), Some(lid)) = (&device.jid, &device.lid)
        && jid.user == pn
    {
        return Ok(Some(lid.user.clone()));
    }
    shared.store.lid_for_pn(pn).await
}

/// The address a device's Signal records are kept under (whatsmeow send.go
/// `encryptMessageForDevices`): a phone-number device whose LID is known is encrypted for
/// under its LID device, its records moved there first; any other device as it is.
pub(crate) async fn encryption_jid(
    shared: &Shared,
    guard: &SessionGuard<'_>,
    device: &Jid,
) -> Result<Jid, StoreError> {
    if device.server != Server::User {
        return Ok(device.clone());
    }
    let Some(lid) = lid_of(shared, &device.user).await? else {
        return Ok(device.clone());
    };
    migrate_user(shared, guard.store(), &device.user, &lid).await?;
    Ok(Jid::new(lid, Server::Lid).with_device(device.device))
}

/// A user's other address form (`None` when not known): the LID of a phone number, the
/// phone number of a LID.
pub(crate) async fn other_form(shared: &Shared, user: &Jid) -> Result<Option<Jid>, StoreError> {
    Ok(match user.server {
        Server::User => lid_of(shared, &user.user)
            .await?
            .map(|lid| Jid::new(lid, Server::Lid)),
        Server::Lid => {
            let device = shared.device();
            match (&device.jid, &device.lid) {
                (Some(jid), Some(lid)) if lid.user == user.user => Some(jid.to_non_ad()),
                _ => shared.store.pn_for_lid(&user.user).await?.map(Jid::user),
            }
        }
        _ => None,
    })
}

/// The one-time move of every phone-number record with a known LID to that LID, before the
/// first login that can say so; returns the login payload's `lidDbMigrated` (whatsmeow sends
/// true, having moved records as it goes; this client says so only once the whole store was
/// moved). A store that fails leaves it false for this login and tries again at the next.
pub(crate) async fn migrate_store(shared: &Shared) -> bool {
    match shared.store.lid_db_migrated().await {
        Ok(true) => return true,
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(%error, "the LID migration flag does not read");
            return false;
        }
    }
    let guard = shared.sessions.lock().await;
    match guard.store().migrate_all_pn_to_lid().await {
        Ok(moved) => {
            tracing::info!(moved, "moved the Signal records of known LIDs to them");
            true
        }
        Err(error) => {
            tracing::warn!(%error, "moving Signal records to LIDs failed; trying again at the next login");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message as _;
    use whatsapp_proto::pb::wa6::ClientPayload;

    use super::*;
    use crate::store::{LidStore as _, MemoryStore, SessionStore as _};

    /// `lidDbMigrated` is false while the store's one-time migration has not run, and true
    /// once it moved every phone-number session with a known LID.
    #[tokio::test]
    async fn lid_db_migrated_follows_the_store_flag() {
        let store = Arc::new(MemoryStore::new());
        store.store_session("2010.0", b"by phone").await.unwrap();
        store
            .store_lid_mappings(&[("99".into(), "2010".into())])
            .await
            .unwrap();
        let (shared, _events, _driver) = crate::receive_tests::test_client(store.clone()).await;
        let payload = |migrated| {
            let config = whatsapp_proto::payload::PayloadConfig::default();
            let bytes =
                whatsapp_proto::payload::login_payload(&config, 2010, 3, migrated).encode_to_vec();
            ClientPayload::decode(bytes.as_slice())
                .unwrap()
                .lid_db_migrated
        };
        assert!(!store.lid_db_migrated().await.unwrap());
        assert_eq!(payload(false), Some(false));
        let migrated = migrate_store(&shared).await;
        assert!(migrated);
        assert_eq!(payload(migrated), Some(true));
        assert!(store.lid_db_migrated().await.unwrap());
        assert_eq!(store.load_session("2010.0").await.unwrap(), None);
        assert_eq!(
            store.load_session("99_1.0").await.unwrap().as_deref(),
            Some(&b"by phone"[..])
        );
    }
}
