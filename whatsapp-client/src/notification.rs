//! `<notification>` stanzas: server sync, prekey count, identity changes, link codes,
//! device lists, group changes and privacy tokens (whatsmeow `notification.go`).

use std::sync::Arc;

use whatsapp_proto::binary::Node;

use crate::context::Shared;
use crate::devices::forget_devices;
use crate::event::Event;
use crate::learned::learn_alternate;

pub(crate) async fn handle_notification(shared: &Arc<Shared>, node: &Node) {
    match node.attrs().optional_str("type") {
        Some("server_sync") => crate::appstate::on_server_sync(shared, node),
        Some("encrypt") if node.child("identity").is_some() => {
            on_identity_change(shared, node).await;
        }
        Some("encrypt") => {
            if let Some(value) = node
                .child("count")
                .and_then(|c| c.attrs().optional_u64("value").ok().flatten())
                && let Err(e) =
                    crate::login::on_prekey_low(shared, u32::try_from(value).unwrap_or(0)).await
            {
                tracing::warn!(error = %e, "prekey top-up failed");
            }
        }
        Some("link_code_companion_reg") => {
            crate::pair::on_link_code_notification(shared, node).await
        }
        Some("devices") => crate::devices::on_devices_notification(shared, node).await,
        Some("w:gp2") => crate::groups::on_group_notification(shared, node).await,
        Some("privacy_token") => crate::privacy_token::on_notification(shared, node).await,
        Some("mediaretry") => crate::media::on_media_retry(shared, node),
        _ => {}
    }
}

/// `<notification type="encrypt" from="user"><identity/>`: the user reinstalled WhatsApp, so
/// every session we hold with its devices leads nowhere (whatsmeow `notification.go`
/// `handleEncryptNotification`). Its sessions and identities go, under its phone number and
/// its LID alike, and its cached device list with them: the next send fetches the device
/// list and fresh prekey bundles and trusts the new identity, instead of encrypting to
/// sessions the new install cannot decrypt. As WA Web does (Baileys
/// `Utils/identity-change-handler.ts`, whatsapp-rust `handlers/notification/device.rs`), a
/// notification from a companion device or about our own account changes nothing.
/// The notification's ack went out on arrival, as for every notification.
async fn on_identity_change(shared: &Arc<Shared>, node: &Node) {
    let Ok(from) = node.attrs().jid("from") else {
        return;
    };
    if from.is_server() || !from.is_user() || from.device != 0 {
        tracing::debug!(%from, "identity notification ignored");
        return;
    }
    let user = from.to_non_ad();
    let device = shared.device();
    if [&device.jid, &device.lid]
        .into_iter()
        .flatten()
        .any(|own| own.user == user.user)
    {
        tracing::debug!("identity notification about our own account ignored");
        return;
    }
    let mut users = vec![user.clone()];
    // The LID the stanza names (whatsapp-rust reads it too), else the one we mapped.
    let named = node.attrs().optional_jid("lid").ok().flatten();
    for other in [named, learn_alternate(shared, &user, node).await]
        .into_iter()
        .flatten()
    {
        let other = other.to_non_ad();
        if !users.contains(&other) {
            users.push(other);
        }
    }
    let deleted = {
        // A send holds this lock from loading a session to storing it back: without it one
        // in flight could put a deleted session back.
        let guard = shared.sessions.lock().await;
        // Sessions first: if only they went, the next send still trusts the new identity
        // (the bundle path replaces a changed one); the other way round it would not.
        let sessions = guard.store().delete_all_sessions(&users).await;
        let identities = guard.store().delete_all_identities(&users).await;
        (sessions, identities)
    };
    for user in &users {
        forget_devices(shared, user);
    }
    crate::privacy_token::reissue_after_identity_change(shared, &user);
    match deleted {
        (Ok(sessions), Ok(identities)) => {
            tracing::info!(%user, sessions, identities, "identity changed: keys forgotten");
            // WA Web reports a changed security code only for a user it held keys for.
            if sessions + identities > 0 {
                shared.emit(Event::IdentityChanged { jid: user }).await;
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(%user, error = %e, "forgetting the keys of a reinstalled user failed");
        }
    }
}
