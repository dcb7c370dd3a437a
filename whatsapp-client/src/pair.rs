//! Pairing a new companion: QR codes shown in turn, `<pair-success>` verified and answered
//! (part 1 §7), and "link with phone number" (part 1 §8): stage 1 (`companion_hello`) and the
//! finish step on the phone's `primary_hello` notification.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pairing;

use crate::ClientError;
use crate::QrCode;
use crate::context::Command;
use crate::context::{LinkCodeState, Shared};
use crate::event::Event;
use crate::login::unified_session;
use whatsapp_proto::xeddsa::KeyPair;

/// Whether `iq` is a pairing IQ we act on: exactly one child, `<pair-device>` or
/// `<pair-success>`, from the server itself (whatsmeow pair.go `handleIQ` checks
/// `from == s.whatsapp.net`); anything else, a forged one included, is not.
pub(crate) fn is_pairing_iq(iq: &Node) -> bool {
    let [child] = iq.child_nodes() else {
        return false;
    };
    matches!(child.tag.as_str(), "pair-device" | "pair-success")
        && iq
            .attrs()
            .optional_jid("from")
            .ok()
            .flatten()
            .is_some_and(|from| from == Jid::server_jid())
}

/// Handles `<iq><pair-success>` (part 1 §7 step 6-8): verify, persist, answer. A refusal
/// ends the connection and stops the client, as whatsmeow's `handlePairSuccess` disconnects
/// after a pairing error.
pub(crate) async fn pair_success(shared: Arc<Shared>, node: Node) {
    let id = node.attrs().optional_string("id").unwrap_or_default();
    if let Some(t) = node.attrs().optional_u64("t").ok().flatten() {
        let offset = (t as i64) * 1000 - crate::clock::UnixMillis::now().as_millis() as i64;
        shared.server_offset_ms.store(offset, Ordering::Relaxed);
    }
    let result = complete_pairing(&shared, &node, &id).await;
    match result {
        Ok(()) => return,
        Err(PairFailure::Refused(error)) => {
            tracing::warn!(%error, "refusing pair-success");
            let _ = shared.send(pairing::pair_error_node(&id, &error)).await;
            shared
                .emit(Event::PairError {
                    reason: error.to_string(),
                })
                .await;
        }
        Err(PairFailure::Internal(reason)) => {
            tracing::error!(%reason, "pairing failed");
            let _ = shared
                .send(pairing::pair_error_node(
                    &id,
                    &pairing::PairingError::BadField { field: "internal" },
                ))
                .await;
            shared.emit(Event::PairError { reason }).await;
        }
    }
    shared.command_now(Command::Shutdown(None));
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
    shared
        .sessions
        .lock()
        .await
        .store()
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
    shared
        .emit(Event::PairSuccess {
            jid,
            lid,
            platform,
            business_name,
        })
        .await;
    Ok(())
}

/// Shows each ref in turn (60 s, then 20 s each), then ends the registration connection.
pub(crate) async fn rotate_qr(shared: Arc<Shared>, refs: Vec<String>) {
    let device = shared.device();
    for (index, reference) in refs.into_iter().enumerate() {
        let data = pairing::QrData {
            reference,
            noise_public: *device.noise_pair().public(),
            identity_public: *device.identity_pair().public(),
            adv_secret: device.adv_secret,
            client_type: shared.config.client_type,
        };
        let timeout = if index == 0 {
            shared.config.qr_first_timeout
        } else {
            shared.config.qr_timeout
        };
        shared
            .emit(Event::Qr(QrCode::new(data.to_string(), timeout, index)))
            .await;
        tokio::time::sleep(timeout).await;
    }
    let _ = shared.command(Command::QrExhausted).await;
}

/// Stage 1: sends `companion_hello` and returns the code as `ABCD-EFGH`.
pub(crate) async fn start_link_code(
    shared: &Shared,
    phone: &str,
    show_push_notification: bool,
) -> Result<String, ClientError> {
    let phone = pairing::normalize_phone(phone)
        .ok_or_else(|| ClientError::InvalidArgument(format!("not a phone number: {phone}")))?;
    let device = shared.device();
    if device.is_paired() {
        return Err(ClientError::InvalidArgument(
            "this device is already paired".into(),
        ));
    }
    let (code, ephemeral) = {
        let mut rng = rand::thread_rng();
        (
            pairing::generate_pairing_code(&mut rng),
            KeyPair::generate(&mut rng),
        )
    };
    let (code_for_wrap, public) = (code.clone(), *ephemeral.public());
    // PBKDF2 with 131 072 rounds: keep it off the async threads.
    let wrapped = tokio::task::spawn_blocking(move || {
        pairing::wrap_ephemeral(&code_for_wrap, &public, &mut rand::thread_rng())
    })
    .await
    .map_err(|_| ClientError::Stopped)?;
    let node = pairing::companion_hello_node(
        &phone,
        &wrapped,
        device.noise_pair().public(),
        shared.config.client_type,
        &shared.config.platform_display,
        show_push_notification,
    );
    let answer = shared.iq(node).await?;
    let reference = answer
        .path(&["link_code_companion_reg", "link_code_pairing_ref"])
        .and_then(Node::content_bytes)
        .ok_or_else(|| ClientError::unexpected("no link_code_pairing_ref", &answer))?
        .to_vec();
    *shared.link_code.lock().unwrap_or_else(|e| e.into_inner()) = Some(LinkCodeState {
        code: code.clone(),
        phone,
        ephemeral,
        reference,
    });
    Ok(pairing::format_pairing_code(&code))
}

/// Stage 2: the phone entered the code (`stage="primary_hello"`).
pub(crate) async fn on_link_code_notification(shared: &Shared, node: &Node) {
    if let Err(e) = finish_link_code(shared, node).await {
        tracing::warn!(error = %e, "phone-code pairing step failed");
    }
}

async fn finish_link_code(shared: &Shared, node: &Node) -> Result<(), ClientError> {
    let Some(reg) = node.child("link_code_companion_reg") else {
        return Ok(());
    };
    match reg.attrs().optional_str("stage") {
        None | Some("primary_hello") => {}
        Some(other) => {
            tracing::info!(stage = other, "link-code stage ignored");
            return Ok(());
        }
    }
    let state = shared
        .link_code
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| ClientError::InvalidArgument("no phone-code pairing in progress".into()))?;
    let bytes = |tag: &str| {
        reg.child(tag)
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| ClientError::unexpected(format!("no <{tag}>"), node))
    };
    if bytes("link_code_pairing_ref")? != state.reference {
        return Err(ClientError::unexpected("pairing ref differs", node));
    }
    let wrapped = bytes("link_code_pairing_wrapped_primary_ephemeral_pub")?;
    let primary_identity: [u8; 32] = bytes("primary_identity_pub")?
        .try_into()
        .map_err(|_| ClientError::unexpected("primary_identity_pub is not 32 bytes", node))?;
    let mut device = shared.device();
    let identity = device.identity_pair();
    let (code, ephemeral) = (state.code.clone(), state.ephemeral.clone());
    let finished = tokio::task::spawn_blocking(move || {
        pairing::companion_finish(
            &code,
            &ephemeral,
            &identity,
            &wrapped,
            &primary_identity,
            &mut rand::thread_rng(),
        )
    })
    .await
    .map_err(|_| ClientError::Stopped)?
    .map_err(|e| ClientError::unexpected(e.to_string(), node))?;
    device.adv_secret = finished.adv_secret;
    shared.store.save_device(&device).await?;
    shared.set_device(device.clone());
    let answer = pairing::companion_finish_node(
        &state.phone,
        &finished.wrapped_bundle,
        device.identity_pair().public(),
        &state.reference,
    );
    shared.iq(answer).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_pairing_iqs_are_taken() {
        let iq = |from: &str, children: Vec<Node>| {
            Node::new("iq")
                .attr("from", from.parse::<Jid>().unwrap())
                .attr("id", "1")
                .attr("type", "set")
                .children(children)
        };
        let pair_device =
            || Node::new("pair-device").children([Node::new("ref").bytes(b"r".to_vec())]);
        assert!(is_pairing_iq(&iq("s.whatsapp.net", vec![pair_device()])));
        assert!(is_pairing_iq(&iq(
            "s.whatsapp.net",
            vec![Node::new("pair-success")]
        )));
        assert!(!is_pairing_iq(&iq(
            "201112223334@s.whatsapp.net",
            vec![pair_device()]
        )));
        assert!(!is_pairing_iq(&iq(
            "s.whatsapp.net",
            vec![pair_device(), Node::new("x")]
        )));
        assert!(!is_pairing_iq(
            &Node::new("iq").attr("id", "1").children([pair_device()])
        ));
    }
}
