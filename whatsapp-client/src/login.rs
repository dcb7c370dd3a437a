//! After `<success>`: the first IQs of a session, pruning, and prekey upload.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::signal::{MAX_PREKEY_ID, PreKeyRecord};
use whatsapp_proto::stanza::keys;

use crate::ClientError;
use crate::context::Shared;
use crate::event::Event;
use crate::store::Device;

/// `<ib><unified_session id=…/></ib>`: id = (server now ms + 3 days) mod 7 days (part 1 §9.6).
pub(crate) fn unified_session(shared: &Shared) -> Node {
    const DAY_MS: i64 = 86_400_000;
    let id = (shared.server_now_ms() + 3 * DAY_MS).rem_euclid(7 * DAY_MS);
    Node::new("ib").children([Node::new("unified_session").attr("id", id.to_string())])
}

/// How long sent messages are kept to answer retry receipts (7 days).
const SENT_KEPT_SECS: i64 = 7 * 86_400;
/// How long decrypted plaintexts are kept for redeliveries (14 days; a redelivery after that
/// fails to decrypt and is answered with a retry receipt).
const DECRYPTED_KEPT_SECS: i64 = 14 * 86_400;

/// The first actions after `<success>` (part 1 §9.6, whatsmeow's order): prekey count and
/// upload, `<active/>`, then [`Event::Connected`].
pub(crate) async fn after_login(shared: Arc<Shared>, lid: Option<Jid>) {
    if let Some(lid) = lid {
        let mut device = shared.device();
        // Learned, or changed since pairing: the server's is kept (whatsmeow
        // connectionevents.go `handleConnectSuccess` replaces a stored LID that differs).
        if device.lid.as_ref() != Some(&lid) {
            if let Some(old) = &device.lid {
                tracing::warn!(%old, new = %lid, "our LID changed");
            }
            if let Some(jid) = &device.jid {
                let _ = shared
                    .store
                    .store_lid_mappings(&[(lid.user.clone(), jid.user.clone())])
                    .await;
            }
            device.lid = Some(lid);
            if shared.store.save_device(&device).await.is_ok() {
                shared.set_device(device);
            }
        }
    }
    // Keep the retry buffer and the redelivery buffer bounded (whatsmeow keeps far less).
    let now = shared.server_now_ms() / 1000;
    if let Err(e) = shared.store.prune_sent(now - SENT_KEPT_SECS).await {
        tracing::warn!(error = %e, "pruning sent messages failed");
    }
    if let Err(e) = shared
        .sessions
        .buffer()
        .prune_decrypted(now - DECRYPTED_KEPT_SECS)
        .await
    {
        tracing::warn!(error = %e, "pruning decrypted messages failed");
    }
    if let Err(e) = check_prekeys(&shared).await {
        tracing::warn!(error = %e, "prekey check failed");
    }
    let active = Node::new("iq")
        .attr("xmlns", "passive")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("active")]);
    match shared.iq(active).await {
        Ok(_) => {
            shared.connected.store(true, Ordering::Release);
            tracing::info!("connected");
            shared.emit(Event::Connected).await;
            crate::history::resume_pending(&shared).await;
        }
        Err(e) => tracing::warn!(error = %e, "setting active failed"),
    }
}

/// Asks the server how many prekeys it holds (`<count value=N/>`).
pub(crate) async fn server_prekey_count(shared: &Shared) -> Result<u32, ClientError> {
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .attr("to", Jid::server_jid())
        .children([Node::new("count")]);
    let answer = shared.iq(iq).await?;
    let count = answer
        .child("count")
        .and_then(|c| c.attrs().optional_u64("value").ok().flatten())
        .ok_or_else(|| ClientError::unexpected("no <count value>", &answer))?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

async fn check_prekeys(shared: &Shared) -> Result<(), ClientError> {
    let server = server_prekey_count(shared).await?;
    let local = shared.store.uploaded_prekey_count().await?;
    let min = shared.config.prekeys_min;
    if server < min || local < min {
        let count = if server == 0 && local == 0 {
            shared.config.prekeys_initial
        } else {
            shared.config.prekeys_refill
        };
        upload_prekeys(shared, count).await?;
    }
    Ok(())
}

/// Handles the server's low-prekey notification (`<notification type="encrypt"><count/>`).
pub(crate) async fn on_prekey_low(shared: &Shared, value: u32) -> Result<(), ClientError> {
    if value < shared.config.prekeys_min {
        upload_prekeys(shared, shared.config.prekeys_refill).await?;
    }
    Ok(())
}

/// A one-time prekey as the wire carries it.
pub(crate) fn wire_prekey(record: &PreKeyRecord) -> keys::PreKey {
    keys::PreKey {
        id: record.id,
        public: *record.key_pair.public.as_bytes(),
    }
}

/// Our signed prekey as the wire carries it (prekey uploads, retry receipts' `<keys>`).
pub(crate) fn wire_signed_prekey(device: &Device) -> Result<keys::SignedPreKey, ClientError> {
    let spk = device.signed_prekey_record()?;
    Ok(keys::SignedPreKey {
        id: spk.id,
        public: *spk.key_pair.public.as_bytes(),
        signature: spk.signature,
    })
}

/// Within this long of an upload, another is made only if the server's count says it is
/// needed (whatsmeow `prekeys.go`: a second request is likely a race).
pub(crate) const PREKEY_UPLOAD_GUARD: std::time::Duration = std::time::Duration::from_secs(600);

/// Generates `count` prekeys, stores them, uploads them (part 2 §2.1) and marks them uploaded.
/// Within [`PREKEY_UPLOAD_GUARD`] of the last upload it first asks the server's count and does
/// nothing when the server holds a refill's worth (whatsmeow `uploadPreKeys`).
pub(crate) async fn upload_prekeys(shared: &Shared, count: u32) -> Result<(), ClientError> {
    let mut last_upload = shared.prekey_lock.lock().await;
    if last_upload.is_some_and(|at| at.elapsed() < PREKEY_UPLOAD_GUARD) {
        let server = server_prekey_count(shared).await.unwrap_or(0);
        if server >= shared.config.prekeys_refill {
            tracing::debug!(server, "prekey upload skipped: one was made minutes ago");
            return Ok(());
        }
    }
    let device: Device = shared.device();
    let first = shared.store.max_prekey_id().await? + 1;
    let records: Vec<PreKeyRecord> = {
        let mut rng = rand::thread_rng();
        (0..count)
            .map(|i| {
                // IDs live in 1..=2^24-1; wrap past the top.
                let id = (first - 1 + i) % MAX_PREKEY_ID + 1;
                PreKeyRecord::generate(id, &mut rng)
            })
            .collect()
    };
    let stored: Vec<(u32, Vec<u8>)> = records.iter().map(|r| (r.id, r.to_bytes())).collect();
    shared.store.store_prekeys(&stored).await?;
    let upload = keys::PreKeyUpload {
        registration_id: device.registration_id,
        identity: *device.identity_pair().public(),
        prekeys: records.iter().map(wire_prekey).collect(),
        signed_prekey: wire_signed_prekey(&device)?,
    };
    let iq = upload.iq();
    shared.iq(iq).await?;
    let ids: Vec<u32> = records.iter().map(|r| r.id).collect();
    shared.store.mark_prekeys_uploaded(&ids).await?;
    *last_upload = Some(tokio::time::Instant::now());
    tracing::info!(count, first, "uploaded prekeys");
    Ok(())
}

/// The raw 32 bytes of a `05`-prefixed public key.
pub(crate) fn raw_key(serialized: &[u8; 33]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&serialized[1..]);
    out
}
