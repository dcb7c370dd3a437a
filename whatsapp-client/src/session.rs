//! Pairing completion, the first IQs after login, and prekey upload.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pairing;
use whatsapp_proto::signal::{MAX_PREKEY_ID, PreKeyRecord};

use crate::ClientError;
use crate::client::{Shared, raw_key};
use crate::event::Event;
use crate::store::Device;

/// Handles `<iq><pair-success>` (part 1 §7 step 6-8): verify, persist, answer.
pub(crate) async fn pair_success(shared: Arc<Shared>, node: Node) {
    let id = node.attrs().optional_string("id").unwrap_or_default();
    if let Some(t) = node.attrs().optional_u64("t").ok().flatten() {
        let offset = (t as i64) * 1000 - crate::client::now_ms() as i64;
        shared.server_offset_ms.store(offset, Ordering::Relaxed);
    }
    match complete_pairing(&shared, &node, &id).await {
        Ok(()) => {}
        Err(PairFailure::Refused(error)) => {
            tracing::warn!(%error, "refusing pair-success");
            let _ = shared.send(pairing::pair_error_node(&id, &error)).await;
            shared.emit(Event::PairError {
                reason: error.to_string(),
            });
        }
        Err(PairFailure::Internal(reason)) => {
            tracing::error!(%reason, "pairing failed");
            let _ = shared
                .send(pairing::pair_error_node(
                    &id,
                    &pairing::PairingError::BadField { field: "internal" },
                ))
                .await;
            shared.emit(Event::PairError { reason });
        }
    }
}

enum PairFailure {
    Refused(pairing::PairingError),
    Internal(String),
}

async fn complete_pairing(shared: &Shared, node: &Node, id: &str) -> Result<(), PairFailure> {
    let success = node
        .child("pair-success")
        .ok_or_else(|| PairFailure::Internal("no pair-success".into()))?;
    let identity_bytes = success
        .child("device-identity")
        .and_then(Node::content_bytes)
        .ok_or(PairFailure::Refused(pairing::PairingError::BadField {
            field: "device-identity",
        }))?;
    let device_node = success
        .child("device")
        .ok_or_else(|| PairFailure::Internal("pair-success has no <device>".into()))?;
    let jid = device_node
        .attrs()
        .jid("jid")
        .map_err(|e| PairFailure::Internal(e.to_string()))?;
    let lid = device_node.attrs().optional_jid("lid").ok().flatten();
    let platform = success
        .child("platform")
        .and_then(|p| p.attrs().optional_string("name"))
        .unwrap_or_default();
    let business_name = success
        .child("biz")
        .and_then(|b| b.attrs().optional_string("name"));

    let mut device = shared.device();
    let paired = pairing::verify_pair_success(
        identity_bytes,
        &device.adv_secret,
        &device.identity_pair(),
        &mut rand::thread_rng(),
    )
    .map_err(PairFailure::Refused)?;

    device.account = Some(paired.account_bytes());
    device.jid = Some(jid.clone());
    device.lid = lid.clone();
    device.platform = platform.clone();
    device.business_name = business_name.clone().unwrap_or_default();
    let store = &shared.store;
    let internal = |e: crate::store::StoreError| PairFailure::Internal(e.to_string());
    store.save_device(&device).await.map_err(internal)?;
    // The primary's identity key, filed under its LID (or PN) device 0 (whatsmeow `handlePair`).
    let primary = lid.clone().unwrap_or_else(|| jid.clone()).to_non_ad();
    store
        .store_identity(&primary.signal_address(), &paired.account_signature_key)
        .await
        .map_err(internal)?;
    if let Some(lid) = &lid {
        store
            .store_lid_mappings(&[(lid.user.clone(), jid.user.clone())])
            .await
            .map_err(internal)?;
    }
    shared.set_device(device);

    if let Err(e) = shared.send(paired.reply_node(id)).await {
        // Could not confirm: forget the pairing, as whatsmeow does.
        let mut device = shared.device();
        device.account = None;
        device.jid = None;
        device.lid = None;
        let _ = store.save_device(&device).await;
        shared.set_device(device);
        return Err(PairFailure::Internal(format!(
            "sending pair-device-sign: {e}"
        )));
    }
    let _ = shared.send(unified_session(shared)).await;
    tracing::info!(%jid, "paired");
    shared.emit(Event::PairSuccess {
        jid,
        lid,
        platform,
        business_name,
    });
    Ok(())
}

/// `<ib><unified_session id=…/></ib>`: id = (server now ms + 3 days) mod 7 days (part 1 §9.6).
fn unified_session(shared: &Shared) -> Node {
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
        if device.lid.is_none() {
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
        .store
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
            shared.emit(Event::Connected);
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

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// Generates `count` prekeys, stores them, uploads them (part 2 §2.1) and marks them uploaded.
pub(crate) async fn upload_prekeys(shared: &Shared, count: u32) -> Result<(), ClientError> {
    let _guard = shared.prekey_lock.lock().await;
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
    let spk = device.signed_prekey_record()?;
    let keys = records.iter().map(|r| {
        Node::new("key").children([
            Node::new("id").bytes(id3(r.id)),
            Node::new("value").bytes(raw_key(&r.key_pair.public.serialize()).to_vec()),
        ])
    });
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([
            Node::new("registration").bytes(device.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5u8]),
            Node::new("identity").bytes(device.identity_pair().public().to_vec()),
            Node::new("list").children(keys),
            Node::new("skey").children([
                Node::new("id").bytes(id3(spk.id)),
                Node::new("value").bytes(raw_key(&spk.key_pair.public.serialize()).to_vec()),
                Node::new("signature").bytes(spk.signature.to_vec()),
            ]),
        ]);
    shared.iq(iq).await?;
    let ids: Vec<u32> = records.iter().map(|r| r.id).collect();
    shared.store.mark_prekeys_uploaded(&ids).await?;
    tracing::info!(count, first, "uploaded prekeys");
    Ok(())
}
