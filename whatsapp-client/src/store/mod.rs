//! The durable state of one device: small traits per concern, a SQLite implementation
//! ([`SqliteStore`]) and an in-memory one for tests ([`MemoryStore`]).
//!
//! Records of the Signal layer (sessions, prekeys, sender keys) are stored as the opaque
//! bytes `whatsapp_proto::signal` serialises them to; the store never interprets them.
//! Every change that touches more than one row is one transaction.
//!
//! The traits return boxed futures so that the client can hold an `Arc<dyn Store>`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use whatsapp_client::store::{DeviceStore, MemoryStore, SessionStore, Device};
//!
//! let store = MemoryStore::new();
//! assert!(store.load_device().await?.is_none());
//! let device = Device::generate(&mut rand::thread_rng());
//! store.save_device(&device).await?;
//! assert_eq!(store.load_device().await?.unwrap().registration_id, device.registration_id);
//! store.store_session("2010.0", b"record").await?;
//! assert_eq!(store.load_session("2010.0").await?.as_deref(), Some(&b"record"[..]));
//! # Ok::<(), whatsapp_client::store::StoreError>(())
//! # }).unwrap();
//! ```

mod cache;
mod memory;
mod sqlite;

use std::future::Future;
use std::pin::Pin;

use rand::{CryptoRng, RngCore};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::payload::AppVersion;
use whatsapp_proto::signal::{self, SignedPreKeyRecord};
use whatsapp_proto::xeddsa;

pub use cache::CachedStore;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (a database, a file, a remote service) refused or failed the operation. The
    /// source is the backend's own error, boxed, so that a store of any kind can report one.
    #[error("database: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database file could not be created or its permissions set.
    #[error("store file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored value does not have the expected form (the file was edited or is corrupt).
    #[error("stored {what} is corrupt")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
}

impl StoreError {
    /// A backend failure, from any error type.
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Database(error.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::backend(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::backend(error)
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// This device's identity: keys made once, plus what pairing taught us.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// Private half of the Noise static key (clamped).
    pub noise_key: [u8; 32],
    /// Private half of the Signal identity key (clamped).
    pub identity_key: [u8; 32],
    /// Signal registration id.
    pub registration_id: u32,
    /// The signed prekey record (`SignedPreKeyRecord::to_bytes`).
    pub signed_prekey: Vec<u8>,
    /// The ADV secret shown in the QR code (replaced by phone-code pairing).
    pub adv_secret: [u8; 32],
    /// Our ADVSignedDeviceIdentity with the device signature, after pairing.
    pub account: Option<Vec<u8>>,
    /// Our phone-number device JID (`15551234567:12@s.whatsapp.net`), after pairing.
    pub jid: Option<Jid>,
    /// Our LID device JID, after pairing.
    pub lid: Option<Jid>,
    /// Our push name.
    pub push_name: String,
    /// The primary's platform from `pair-success`.
    pub platform: String,
    /// The business name from `pair-success`, if any.
    pub business_name: String,
    /// The WhatsApp Web version of the last login (a fallback when fetching fails).
    pub app_version: Option<AppVersion>,
}

/// The private keys and the ADV secret are wiped when a `Device` is dropped.
impl Drop for Device {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.noise_key.zeroize();
        self.identity_key.zeroize();
        self.adv_secret.zeroize();
        self.signed_prekey.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Device {}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("registration_id", &self.registration_id)
            .field("jid", &self.jid)
            .field("lid", &self.lid)
            .finish_non_exhaustive()
    }
}

/// Id of the signed prekey made with a new device (whatsmeow uses 1 as well).
pub const SIGNED_PREKEY_ID: u32 = 1;

impl Device {
    /// A new, unpaired device with fresh keys.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Device {
        let noise = xeddsa::KeyPair::generate(rng);
        let identity = signal::KeyPair::generate(rng);
        let registration_id = signal::generate_registration_id(rng);
        let spk = SignedPreKeyRecord::generate(SIGNED_PREKEY_ID, &identity, 0, rng);
        let mut adv_secret = [0u8; 32];
        rng.fill_bytes(&mut adv_secret);
        Device {
            noise_key: *noise.private(),
            identity_key: identity.private.to_bytes(),
            registration_id,
            signed_prekey: spk.to_bytes(),
            adv_secret,
            account: None,
            jid: None,
            lid: None,
            push_name: String::new(),
            platform: String::new(),
            business_name: String::new(),
            app_version: None,
        }
    }

    /// Whether pairing completed (we have a JID).
    pub fn is_paired(&self) -> bool {
        self.jid.is_some()
    }

    /// The Noise static key pair.
    pub fn noise_pair(&self) -> xeddsa::KeyPair {
        xeddsa::KeyPair::from_private(self.noise_key)
    }

    /// The identity key pair, as XEdDSA keys (for ADV signatures).
    pub fn identity_pair(&self) -> xeddsa::KeyPair {
        xeddsa::KeyPair::from_private(self.identity_key)
    }

    /// The identity key pair, as Signal keys.
    pub fn signal_identity(&self) -> StoreResult<signal::KeyPair> {
        Self::signal_identity_of(&self.identity_key)
    }

    pub(crate) fn signal_identity_of(private: &[u8; 32]) -> StoreResult<signal::KeyPair> {
        signal::PrivateKey::from_slice(private)
            .map(signal::KeyPair::from_private)
            .map_err(|_| StoreError::Corrupt {
                what: "identity key",
            })
    }

    /// The signed prekey record.
    pub fn signed_prekey_record(&self) -> StoreResult<SignedPreKeyRecord> {
        SignedPreKeyRecord::from_bytes(&self.signed_prekey).map_err(|_| StoreError::Corrupt {
            what: "signed prekey",
        })
    }
}

/// Contact details learned from the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The name the contact chose (`notify` attribute / push name).
    pub push_name: Option<String>,
    /// The name from our address book (app state), if known.
    pub full_name: Option<String>,
}

/// What one decrypted stanza changes, committed atomically before the application sees it:
/// the receive core's record of one decryption.
pub use whatsapp_proto::receive::Decrypted as DecryptCommit;

/// Several decrypted stanzas (a group of the offline catch-up) committed in one transaction:
/// one fsync for the group instead of one per message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecryptBatch {
    /// The decrypt commits, applied in order (a later record for the same address wins).
    pub commits: Vec<DecryptCommit>,
    /// Sender key records that distribution messages inside the group changed
    /// (`(group, sender address, record)`), their final values: written after the commits.
    pub sender_keys: Vec<(String, String, Vec<u8>)>,
    /// Message secrets the group's messages carried (polls), stored with them.
    pub message_secrets: Vec<MessageSecret>,
}

impl DecryptBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty() && self.sender_keys.is_empty() && self.message_secrets.is_empty()
    }
}

/// The `messageContextInfo.messageSecret` of one message (whatsmeow `MessageSecretInsert`):
/// what poll votes (and other secret-encrypted updates) of that message are sealed under.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageSecret {
    /// The chat, without device (`user@server`).
    pub chat: String,
    /// Who sent the message, without device.
    pub sender: String,
    /// The message id.
    pub message_id: String,
    /// The secret (32 bytes as phones make it).
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for MessageSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSecret")
            .field("chat", &self.chat)
            .field("sender", &self.sender)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// Message secrets of polls received or sent (whatsmeow `MsgSecretStore`). The first secret
/// stored for a message stays: a later message reusing the id cannot replace it.
pub trait MessageSecretStore: Send + Sync {
    /// Stores secrets in one transaction; a message already holding one keeps it.
    fn store_message_secrets<'a>(&'a self, secrets: &'a [MessageSecret]) -> StoreFuture<'a, ()>;
    /// The secret of a message, by chat, sender (both without device) and id.
    fn load_message_secret<'a>(
        &'a self,
        chat: &'a str,
        sender: &'a str,
        message_id: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>>;
}

/// This device's identity record.
pub trait DeviceStore: Send + Sync {
    /// The stored device, if one was made.
    fn load_device(&self) -> StoreFuture<'_, Option<Device>>;
    /// Creates or replaces the device record.
    fn save_device<'a>(&'a self, device: &'a Device) -> StoreFuture<'a, ()>;
    /// Logs out: deletes the device and every session, key and mapping, in one transaction.
    /// The store stays valid and empty.
    fn wipe(&self) -> StoreFuture<'_, ()>;
}

/// One-time prekeys.
pub trait PreKeyStore: Send + Sync {
    /// Stores freshly generated prekeys (`(id, PreKeyRecord::to_bytes)`), not yet uploaded.
    fn store_prekeys<'a>(&'a self, prekeys: &'a [(u32, Vec<u8>)]) -> StoreFuture<'a, ()>;
    /// A prekey record.
    fn load_prekey(&self, id: u32) -> StoreFuture<'_, Option<Vec<u8>>>;
    /// Deletes a used prekey.
    fn remove_prekey(&self, id: u32) -> StoreFuture<'_, ()>;
    /// Marks the given prekeys as uploaded.
    fn mark_prekeys_uploaded<'a>(&'a self, ids: &'a [u32]) -> StoreFuture<'a, ()>;
    /// How many uploaded prekeys are still unused.
    fn uploaded_prekey_count(&self) -> StoreFuture<'_, u32>;
    /// The highest prekey id ever stored (0 if none).
    fn max_prekey_id(&self) -> StoreFuture<'_, u32>;
}

/// Signal sessions, keyed by address (`user[_agent].device`).
pub trait SessionStore: Send + Sync {
    /// A session record.
    fn load_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Creates or replaces a session record.
    fn store_session<'a>(&'a self, address: &'a str, record: &'a [u8]) -> StoreFuture<'a, ()>;
    /// Stores several session records in one transaction (a fan-out's sessions).
    fn store_sessions<'a>(&'a self, records: &'a [(String, Vec<u8>)]) -> StoreFuture<'a, ()>;
    /// Deletes a session.
    fn delete_session<'a>(&'a self, address: &'a str) -> StoreFuture<'a, ()>;
    /// Deletes the sessions of every device of the given users (the addresses
    /// [`Jid::signal_address_prefix`] starts), in one transaction; returns how many went. A user's phone
    /// number and its LID are two users here: pass both. Used when a user reinstalled
    /// (whatsmeow `store/sqlstore/store.go` `DeleteAllSessions`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use whatsapp_client::Jid;
    /// use whatsapp_client::store::{MemoryStore, SessionStore};
    ///
    /// let store = MemoryStore::new();
    /// store.store_session("2010.0", b"phone").await?;
    /// store.store_session("2010.3", b"companion").await?;
    /// store.store_session("20101.0", b"someone else").await?;
    /// assert_eq!(store.delete_all_sessions(&[Jid::user("2010")]).await?, 2);
    /// assert!(store.load_session("2010.3").await?.is_none());
    /// assert!(store.load_session("20101.0").await?.is_some());
    /// # Ok::<(), whatsapp_client::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    fn delete_all_sessions<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64>;
    /// Moves the sessions, identity keys and sender keys of every device of the phone-number
    /// user `pn` to the LID user `lid`, in one transaction, and returns how many records
    /// moved (whatsmeow `store/sqlstore/store.go` `MigratePNToLID`): a PN record replaces
    /// the LID record of the same device, and no PN record is left. Addresses are matched
    /// as [`Jid::signal_address_prefix`] makes them.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use whatsapp_client::store::{IdentityStore, MemoryStore, SessionStore};
    ///
    /// let store = MemoryStore::new();
    /// store.store_session("2010.3", b"by phone").await?;
    /// store.store_identity("2010.3", &[7; 32]).await?;
    /// assert_eq!(store.migrate_pn_to_lid("2010", "99").await?, 2);
    /// assert_eq!(store.load_session("99_1.3").await?.as_deref(), Some(&b"by phone"[..]));
    /// assert!(store.load_session("2010.3").await?.is_none());
    /// # Ok::<(), whatsapp_client::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    fn migrate_pn_to_lid<'a>(&'a self, pn: &'a str, lid: &'a str) -> StoreFuture<'a, u64>;
    /// The one-time migration of the whole store: [`SessionStore::migrate_pn_to_lid`] for
    /// every stored PN/LID mapping, and the store marked migrated
    /// ([`LidStore::lid_db_migrated`]), in one transaction. Returns how many records moved.
    fn migrate_all_pn_to_lid(&self) -> StoreFuture<'_, u64>;
}

/// Peers' identity keys (trust on first use).
pub trait IdentityStore: Send + Sync {
    /// The identity key stored for an address.
    fn load_identity<'a>(&'a self, address: &'a str) -> StoreFuture<'a, Option<[u8; 32]>>;
    /// Stores an identity key.
    fn store_identity<'a>(&'a self, address: &'a str, key: &'a [u8; 32]) -> StoreFuture<'a, ()>;
    /// Deletes the identity keys of every device of the given users (as
    /// [`SessionStore::delete_all_sessions`] matches them), in one transaction; returns how
    /// many went (whatsmeow `DeleteAllIdentities`).
    fn delete_all_identities<'a>(&'a self, users: &'a [Jid]) -> StoreFuture<'a, u64>;
}

/// Group sender keys.
pub trait SenderKeyStore: Send + Sync {
    /// A sender key record.
    fn load_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
    ) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Creates or replaces a sender key record.
    fn store_sender_key<'a>(
        &'a self,
        group: &'a str,
        sender: &'a str,
        record: &'a [u8],
    ) -> StoreFuture<'a, ()>;
}

/// An app-state sync key as the phone shared it. The key data is wiped when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct AppStateSyncKey {
    /// The key ID that records, patches and snapshots name.
    #[zeroize(skip)]
    pub id: Vec<u8>,
    /// The 32-byte key data.
    pub data: Vec<u8>,
    /// When the phone made it (unix ms): the newest encrypts our own patches.
    #[zeroize(skip)]
    pub timestamp: i64,
}

impl std::fmt::Debug for AppStateSyncKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStateSyncKey")
            .field("id", &hex::encode(&self.id))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// One verified app-state patch or snapshot, applied to a collection in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatePatchUpdate {
    /// The collection's new version.
    pub version: u64,
    /// The collection's new 128-byte LTHash.
    pub hash: Vec<u8>,
    /// A snapshot: every stored index MAC of the collection is dropped first.
    pub replaces_all: bool,
    /// Index MACs whose records were removed.
    pub removed: Vec<[u8; 32]>,
    /// (index MAC, value MAC) of records set.
    pub added: Vec<([u8; 32], [u8; 32])>,
}

/// App-state sync keys, collection versions and index MACs, and pending history-sync
/// notifications.
pub trait AppStateStore: Send + Sync {
    /// A sync key by its id.
    fn load_app_state_key<'a>(&'a self, key_id: &'a [u8]) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Stores sync keys (`(id, key data)`) in one transaction.
    fn store_app_state_keys<'a>(&'a self, keys: &'a [(Vec<u8>, Vec<u8>)]) -> StoreFuture<'a, ()>;
    /// A collection's version and LTHash.
    fn load_app_state_version<'a>(
        &'a self,
        name: &'a str,
    ) -> StoreFuture<'a, Option<(u64, Vec<u8>)>>;
    /// Stores a collection's version and LTHash.
    fn store_app_state_version<'a>(
        &'a self,
        name: &'a str,
        version: u64,
        hash: &'a [u8],
    ) -> StoreFuture<'a, ()>;
    /// Stores sync keys with their timestamps in one transaction.
    fn store_app_state_sync_keys<'a>(&'a self, keys: &'a [AppStateSyncKey]) -> StoreFuture<'a, ()>;
    /// The sync key with the newest timestamp (ties: the one stored last).
    fn latest_app_state_key(&self) -> StoreFuture<'_, Option<AppStateSyncKey>>;
    /// The stored value MACs of some index MACs of a collection (absent ones are left out).
    fn load_app_state_mutation_macs<'a>(
        &'a self,
        name: &'a str,
        index_macs: &'a [[u8; 32]],
    ) -> StoreFuture<'a, Vec<([u8; 32], [u8; 32])>>;
    /// Applies a verified patch or snapshot: version, hash and the index MAC map of the
    /// collection change together or not at all.
    fn apply_app_state_patch<'a>(
        &'a self,
        name: &'a str,
        update: &'a AppStatePatchUpdate,
    ) -> StoreFuture<'a, ()>;
    /// Forgets a collection (version, hash and index MACs) so the next sync starts from a
    /// snapshot.
    fn delete_app_state<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;
    /// Keeps a history-sync notification (serialised `HistorySyncNotification`, by the id of
    /// the message that carried it) until its chunk is imported; storing it again is a no-op.
    fn store_pending_history<'a>(
        &'a self,
        message_id: &'a str,
        notification: &'a [u8],
    ) -> StoreFuture<'a, ()>;
    /// The notifications not imported yet, in order of arrival.
    fn pending_history(&self) -> StoreFuture<'_, Vec<(String, Vec<u8>)>>;
    /// Forgets a notification whose chunk was imported (or can never be).
    fn delete_pending_history<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, ()>;
}

/// The LID <-> phone-number map (user parts, without device).
pub trait LidStore: Send + Sync {
    /// Stores mappings `(lid user, pn user)` in one transaction; a new mapping replaces an old
    /// one for either side.
    fn store_lid_mappings<'a>(&'a self, pairs: &'a [(String, String)]) -> StoreFuture<'a, ()>;
    /// The phone number of a LID user.
    fn pn_for_lid<'a>(&'a self, lid: &'a str) -> StoreFuture<'a, Option<String>>;
    /// The LID of a phone-number user.
    fn lid_for_pn<'a>(&'a self, pn: &'a str) -> StoreFuture<'a, Option<String>>;
    /// Whether [`SessionStore::migrate_all_pn_to_lid`] ran over this store: the login
    /// payload's `lidDbMigrated`.
    fn lid_db_migrated(&self) -> StoreFuture<'_, bool>;
}

/// The Signal address prefixes of a PN user and of its LID user: what
/// [`SessionStore::migrate_pn_to_lid`] rewrites (`2010.` to `99_1.`).
pub fn migration_prefixes(pn: &str, lid: &str) -> (String, String) {
    (
        Jid::user(pn).signal_address_prefix(),
        Jid::new(lid, whatsapp_proto::jid::Server::Lid).signal_address_prefix(),
    )
}

/// Contacts' names.
pub trait ContactStore: Send + Sync {
    /// Stores a contact's push name.
    fn store_push_name<'a>(&'a self, jid: &'a str, name: &'a str) -> StoreFuture<'a, ()>;
    /// A contact.
    fn load_contact<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<Contact>>;
    /// Stores the name our address book gives a contact (app state `contact` records);
    /// `None` forgets it.
    fn store_full_name<'a>(&'a self, jid: &'a str, name: Option<&'a str>) -> StoreFuture<'a, ()>;
}

/// Privacy tokens (part 2 §4.7): the trusted-contact tokens users issued to us, when we last
/// issued ours to them, and the NCT salt the cstoken fallback is derived from. Users are
/// keyed by the JID the client chose (their LID when it is known, whatsmeow `tctoken.go`).
pub trait PrivacyTokenStore: Send + Sync {
    /// Stores the privacy token a user issued to us, with its timestamp (unix seconds); an
    /// older token than the one held is ignored (whatsmeow `PutPrivacyTokens`).
    fn store_privacy_token<'a>(
        &'a self,
        jid: &'a str,
        token: &'a [u8],
        timestamp: i64,
    ) -> StoreFuture<'a, ()>;
    /// The privacy token a user issued to us, with its timestamp.
    fn load_privacy_token<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, i64)>>;
    /// Records when we last issued our own token to a user (unix seconds).
    fn store_token_issued<'a>(&'a self, jid: &'a str, timestamp: i64) -> StoreFuture<'a, ()>;
    /// When we last issued our own token to a user.
    fn load_token_issued<'a>(&'a self, jid: &'a str) -> StoreFuture<'a, Option<i64>>;
    /// Stores the account's NCT salt; `None` forgets it.
    fn store_nct_salt<'a>(&'a self, salt: Option<&'a [u8]>) -> StoreFuture<'a, ()>;
    /// The account's NCT salt.
    fn load_nct_salt(&self) -> StoreFuture<'_, Option<Vec<u8>>>;
}

/// Recently sent messages, kept to answer retry receipts.
pub trait SentMessageStore: Send + Sync {
    /// Keeps a sent message (serialised e2e `Message`).
    fn store_sent<'a>(
        &'a self,
        chat: &'a str,
        id: &'a str,
        message: &'a [u8],
        created_at: i64,
    ) -> StoreFuture<'a, ()>;
    /// A sent message, if still kept.
    fn load_sent<'a>(&'a self, chat: &'a str, id: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Forgets messages sent before `before` (unix seconds).
    fn prune_sent(&self, before: i64) -> StoreFuture<'_, u64>;
}

/// The decrypt commit: session state and plaintext together.
pub trait MessageStore: Send + Sync {
    /// Applies a [`DecryptCommit`] in one transaction: the session or sender key record, the
    /// identity, the consumed prekey and the plaintext keyed by ciphertext hash.
    fn commit_decrypted<'a>(&'a self, commit: &'a DecryptCommit) -> StoreFuture<'a, ()>;
    /// Applies a [`DecryptBatch`] in one transaction: all of it or nothing.
    fn commit_decrypted_batch<'a>(&'a self, batch: &'a DecryptBatch) -> StoreFuture<'a, ()>;
    /// The plaintext of a ciphertext already decrypted (a redelivery).
    fn load_decrypted<'a>(&'a self, hash: &'a [u8; 32]) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Forgets plaintexts decrypted before `before` (unix seconds); returns how many.
    fn prune_decrypted(&self, before: i64) -> StoreFuture<'_, u64>;
}

/// Everything the client needs.
pub trait Store:
    DeviceStore
    + PreKeyStore
    + SessionStore
    + IdentityStore
    + SenderKeyStore
    + AppStateStore
    + LidStore
    + ContactStore
    + PrivacyTokenStore
    + SentMessageStore
    + MessageStore
    + MessageSecretStore
{
}

impl<T> Store for T where
    T: DeviceStore
        + PreKeyStore
        + SessionStore
        + IdentityStore
        + SenderKeyStore
        + AppStateStore
        + LidStore
        + ContactStore
        + PrivacyTokenStore
        + SentMessageStore
        + MessageStore
        + MessageSecretStore
{
}

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    /// The device's private keys and the app-state keys are wiped when dropped.
    #[test]
    fn secrets_are_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<Device>();
        wiped_on_drop::<AppStateSyncKey>();
        let mut key = AppStateSyncKey {
            id: vec![1],
            data: vec![9; 32],
            timestamp: 5,
        };
        zeroize::Zeroize::zeroize(&mut key);
        assert!(key.data.is_empty(), "the key data is cleared");
        assert_eq!(key.id, vec![1], "the id is not secret");
    }

    /// A store of another kind reports its own error type, and callers can still reach it.
    #[test]
    fn a_backend_error_keeps_its_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("replica lagging")]
        struct Lagging;
        let error = StoreError::backend(Lagging);
        assert_eq!(error.to_string(), "database: replica lagging");
        let source = std::error::Error::source(&error).expect("source");
        assert!(source.downcast_ref::<Lagging>().is_some());
    }
}
