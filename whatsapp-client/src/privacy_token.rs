//! Privacy tokens (part 2 §4.7): tokens users issue to us (notifications, history sync),
//! kept under the user's LID when it is known; the `<tctoken>` or `<cstoken>` a 1:1 message
//! carries; and our own token, issued after a send at most once per 7-day bucket and again
//! after the contact's identity changed (whatsmeow `tctoken.go`, `cstoken.go`,
//! `notification.go`, `send.go sendDM`).

use std::sync::Arc;

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::stanza::privacy_token::{
    ReceivedTokens, applies_to, cstoken, issue_iq, should_issue, token_valid,
};

use crate::ClientError;
use crate::clock::UnixMillis;
use crate::context::Shared;

/// The JID a user's tokens are kept under: the LID when the user is a phone number whose LID
/// we know, else the JID itself (whatsmeow `resolveTCTokenStorageLID`).
pub(crate) async fn storage_jid(shared: &Shared, jid: &Jid) -> Result<Jid, ClientError> {
    let jid = jid.to_non_ad();
    if jid.server != Server::User {
        return Ok(jid);
    }
    Ok(match shared.store.lid_for_pn(&jid.user).await? {
        Some(lid) => Jid::new(lid, Server::Lid),
        None => jid,
    })
}

/// The newest token `to` issued to us that is still valid, looked up under both of its
/// address forms (a token stored under the phone number before the LID was known still
/// counts; whatsmeow `getPrivacyToken` does the same in SQL).
async fn valid_token(shared: &Shared, to: &Jid, now: i64) -> Result<Option<Vec<u8>>, ClientError> {
    let to = to.to_non_ad();
    let mut best: Option<(Vec<u8>, i64)> = None;
    for jid in [Some(to.clone()), crate::lid::other_form(shared, &to).await?]
        .into_iter()
        .flatten()
    {
        if let Some((token, t)) = shared.store.load_privacy_token(&jid.to_string()).await?
            && best.as_ref().is_none_or(|(_, b)| t > *b)
        {
            best = Some((token, t));
        }
    }
    Ok(best
        .filter(|(token, t)| !token.is_empty() && token_valid(*t, now))
        .map(|(token, _)| token))
}

/// The privacy-token child of a 1:1 message to `to`: `<tctoken>` with the token `to` issued
/// to us, else `<cstoken>` derived from our NCT salt and `to`'s LID, else none (whatsmeow
/// `send.go sendDM`). Never for our own devices (the server refuses tokens on peer messages).
pub(crate) async fn message_token(shared: &Shared, to: &Jid) -> Result<Option<Node>, ClientError> {
    if !applies_to(to) {
        return Ok(None);
    }
    let now = UnixMillis::now().as_secs() as i64;
    if let Some(token) = valid_token(shared, to, now).await? {
        return Ok(Some(Node::new("tctoken").bytes(token)));
    }
    let Some(salt) = shared.store.load_nct_salt().await? else {
        return Ok(None);
    };
    let lid = storage_jid(shared, to).await?;
    Ok(cstoken(&salt, &lid).map(|token| Node::new("cstoken").bytes(token)))
}

/// The `<tctoken>` a presence subscription carries, when `to` issued us a valid one.
pub(crate) async fn presence_token(shared: &Shared, to: &Jid) -> Result<Option<Node>, ClientError> {
    let now = UnixMillis::now().as_secs() as i64;
    Ok(valid_token(shared, to, now)
        .await?
        .map(|token| Node::new("tctoken").bytes(token)))
}

/// Issues our own token to `to` after a message went out, unless it was already issued in
/// the current 7-day bucket (whatsmeow `send.go sendDM`, `tctoken.go issuePrivacyTokenAndSave`).
/// Like whatsmeow, the issue runs in the background (a task of the client, ended by
/// shutdown), so a send returns once its ack came; whom we issued to this week is kept in
/// memory, so a send asks the store only for a contact's first send of the week. A failure is
/// only logged: the message itself was sent, and the next one tries again.
pub(crate) async fn issue_after_send(shared: &Arc<Shared>, to: &Jid) {
    if !applies_to(to) {
        return;
    }
    let jid = match storage_jid(shared, to).await {
        Ok(jid) => jid,
        Err(e) => {
            tracing::warn!(%to, error = %e, "issuing our privacy token failed");
            return;
        }
    };
    let key = jid.to_string();
    let now = UnixMillis::now().as_secs() as i64;
    let claimed = shared
        .tokens_issued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .claim(&key, now);
    if !claimed {
        return;
    }
    let task = shared.clone();
    shared.spawn(async move {
        if let Err(e) = issue_if_due(&task, &jid, &key, now).await {
            tracing::warn!(%jid, error = %e, "issuing our privacy token failed");
            task.tokens_issued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(&key);
        }
    });
}

async fn issue_if_due(shared: &Shared, jid: &Jid, key: &str, now: i64) -> Result<(), ClientError> {
    if !should_issue(shared.store.load_token_issued(key).await?, now) {
        return Ok(());
    }
    shared.iq(issue_iq(jid, now)).await?;
    shared.store.store_token_issued(key, now).await?;
    Ok(())
}

/// Issues our token again to a contact whose identity changed (a new install holds none of
/// ours), with the timestamp it was last issued at, when that is still in the valid window
/// (whatsmeow notification.go `handleEncryptNotification`, tctoken.go
/// `issuePrivacyTokenAndSave`). In the background, as whatsmeow's; a failure is logged.
pub(crate) fn reissue_after_identity_change(shared: &Arc<Shared>, user: &Jid) {
    let (task_shared, user) = (shared.clone(), user.to_non_ad());
    shared.spawn(async move {
        if let Err(e) = reissue(&task_shared, &user).await {
            tracing::warn!(%user, error = %e, "re-issuing our privacy token failed");
        }
    });
}

async fn reissue(shared: &Shared, user: &Jid) -> Result<(), ClientError> {
    let jid = storage_jid(shared, user).await?;
    let now = UnixMillis::now().as_secs() as i64;
    let Some(issued) = shared
        .store
        .load_token_issued(&jid.to_string())
        .await?
        .filter(|t| token_valid(*t, now))
    else {
        return Ok(());
    };
    tracing::debug!(%jid, "identity changed: re-issuing our privacy token");
    shared.iq(issue_iq(&jid, issued)).await?;
    Ok(())
}

/// Stores the tokens of a `privacy_token` notification under the issuer's LID: the one the
/// notification names, else the one we map its phone number to (whatsmeow
/// `handlePrivacyTokenNotification`).
pub(crate) async fn on_notification(shared: &Shared, node: &Node) {
    let received = match ReceivedTokens::parse(node) {
        Ok(received) => received,
        Err(e) => {
            tracing::warn!(error = %e, "unusable privacy_token notification");
            return;
        }
    };
    // The notification names the issuer's number and LID: the pair is kept, so that a send
    // to the number finds the token kept under the LID. (whatsmeow keeps no pair here but asks
    // usync for a number's LID before sending to it, send.go `SendMessage`; our send path
    // does not ask yet.)
    if received.from.server == Server::User {
        crate::learned::learn_alternate(shared, &received.from.to_non_ad(), node).await;
    }
    let result = async {
        let jid = match received.sender_lid {
            Some(lid) => lid,
            None => storage_jid(shared, &received.from).await?,
        };
        for (token, t) in &received.tokens {
            shared
                .store
                .store_privacy_token(&jid.to_string(), token, *t)
                .await?;
        }
        Ok::<_, ClientError>(())
    };
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "storing a privacy token failed");
    }
}

/// Stores what a history-sync chunk says about tokens: the NCT salt, and each 1:1
/// conversation's token (`tcToken`, `tcTokenTimestamp`) under the chat's LID when known
/// (whatsmeow `message.go storeHistoricalMessageSecrets`), with when we last issued ours
/// (`tcTokenSenderTimestamp`). Run after the chunk's LID mappings are stored.
pub(crate) async fn import_history(
    shared: &Shared,
    nct_salt: Option<&[u8]>,
    conversations: &[HistoryToken],
) -> Result<(), ClientError> {
    if let Some(salt) = nct_salt.filter(|s| !s.is_empty()) {
        shared.store.store_nct_salt(Some(salt)).await?;
    }
    for c in conversations {
        if !c.chat.is_user() {
            continue;
        }
        let key = storage_jid(shared, &c.chat).await?.to_string();
        if let Some(token) = c.token.as_deref().filter(|t| !t.is_empty()) {
            shared
                .store
                .store_privacy_token(&key, token, c.timestamp)
                .await?;
        }
        if let Some(sent) = c.sender_timestamp.filter(|t| *t > 0)
            && shared
                .store
                .load_token_issued(&key)
                .await?
                .is_none_or(|held| held < sent)
        {
            shared.store.store_token_issued(&key, sent).await?;
        }
    }
    Ok(())
}

/// The token fields of one history-sync conversation.
pub(crate) struct HistoryToken {
    pub(crate) chat: Jid,
    pub(crate) token: Option<Vec<u8>>,
    pub(crate) timestamp: i64,
    pub(crate) sender_timestamp: Option<i64>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::context::Command;
    use crate::store::{DeviceStore as _, MemoryStore};

    type Unanswered = oneshot::Sender<Result<Node, ClientError>>;

    /// A logged-in client whose server never answers IQs: each IQ sent comes out of the
    /// receiver (its reply kept open, so it stays awaited).
    async fn silent_server() -> (Arc<Shared>, mpsc::UnboundedReceiver<Node>) {
        let store = Arc::new(MemoryStore::new());
        let mut device = crate::store::Device::generate(&mut rand::thread_rng());
        device.jid = Some("201001234567:3@s.whatsapp.net".parse().unwrap());
        store.save_device(&device).await.unwrap();
        let (events, _) = mpsc::channel(16);
        let (cmd, mut cmd_rx) = mpsc::channel(64);
        let (acks, _) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(
            store,
            crate::Config::default(),
            device,
            events,
            cmd,
            acks,
        ));
        let (iqs_tx, iqs) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut unanswered: Vec<Unanswered> = Vec::new();
            while let Some(cmd) = cmd_rx.recv().await {
                if let Command::Iq(node, reply) = cmd {
                    let _ = iqs_tx.send(node);
                    unanswered.push(reply);
                }
            }
        });
        (shared, iqs)
    }

    /// A send returns once its ack came: our token is issued in the background (here its
    /// IQ is never answered), and only once per contact and week.
    #[tokio::test]
    async fn our_token_is_issued_in_the_background_once_a_week() {
        let (shared, mut iqs) = silent_server().await;
        let first: Jid = "201112223334@s.whatsapp.net".parse().unwrap();
        let second: Jid = "201112225556@s.whatsapp.net".parse().unwrap();
        tokio::time::timeout(Duration::from_secs(30), issue_after_send(&shared, &first))
            .await
            .expect("returned without waiting for the IQ's answer");
        let token_jid = |iq: &Node| {
            iq.child("tokens")
                .and_then(|t| t.child("token"))
                .and_then(|t| t.attrs().optional_jid("jid").ok().flatten())
        };
        let iq = iqs.recv().await.expect("the issue IQ");
        assert_eq!(iq.attrs().optional_str("xmlns"), Some("privacy"));
        assert_eq!(token_jid(&iq), Some(first.clone()));
        // Sent to again this week: not issued again. The next contact's IQ is the next one.
        issue_after_send(&shared, &first).await;
        issue_after_send(&shared, &second).await;
        let iq = iqs.recv().await.expect("the second contact's issue IQ");
        assert_eq!(token_jid(&iq), Some(second));
    }
}
