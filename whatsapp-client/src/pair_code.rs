//! "Link with phone number" pairing (part 1 §8): stage 1 (`companion_hello`) and the
//! companion's finish step on the phone's `primary_hello` notification.

use whatsapp_proto::binary::Node;
use whatsapp_proto::pairing;
use whatsapp_proto::xeddsa::KeyPair;

use crate::ClientError;
use crate::client::Shared;

/// A phone-code pairing in progress.
#[derive(Clone)]
pub(crate) struct LinkCodeState {
    code: String,
    phone: String,
    ephemeral: KeyPair,
    reference: Vec<u8>,
}

/// Stage 1: sends `companion_hello` and returns the code as `ABCD-EFGH`.
pub(crate) async fn start(
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
pub(crate) async fn on_notification(shared: &Shared, node: &Node) {
    if let Err(e) = finish(shared, node).await {
        tracing::warn!(error = %e, "phone-code pairing step failed");
    }
}

async fn finish(shared: &Shared, node: &Node) -> Result<(), ClientError> {
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
