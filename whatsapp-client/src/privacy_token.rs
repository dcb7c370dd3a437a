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
/// the current 7-day bucket (whatsmeow `send.go sendDM`, `tctoken.go issuePrivacyToken`). A
/// failure is only logged: the message itself was sent.
pub(crate) async fn issue_after_send(shared: &Shared, to: &Jid) {
    if !applies_to(to) {
        return;
    }
    if let Err(e) = issue_if_due(shared, to).await {
        tracing::warn!(%to, error = %e, "issuing our privacy token failed");
    }
}

async fn issue_if_due(shared: &Shared, to: &Jid) -> Result<(), ClientError> {
    let jid = storage_jid(shared, to).await?;
    let key = jid.to_string();
    let now = UnixMillis::now().as_secs() as i64;
    if !should_issue(shared.store.load_token_issued(&key).await?, now) {
        return Ok(());
    }
    shared.iq(issue_iq(&jid, now)).await?;
    shared.store.store_token_issued(&key, now).await?;
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
