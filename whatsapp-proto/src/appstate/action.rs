//! Decoded mutations as typed actions an inbox acts on, and builders for the
//! mutations we send ourselves. Index layouts: fact sheet part 2 §8.5, §8.7;
//! whatsmeow `appstate/keys.go`, `appstate.go` (dispatch), `appstate/encode.go`.

use super::mac::Operation;
use super::mutation::DecodedMutation;
use super::patch::OutgoingMutation;
use crate::pb::sync_action::{
    ArchiveChatAction, LabelAssociationAction, LabelEditAction, MarkChatAsReadAction, MuteAction,
    PinAction, PushNameSetting, StarAction, SyncActionMessageRange, SyncActionValue,
};

/// The first element of an index, naming the kind of record.
pub mod index_names {
    /// `["contact", jid]` (critical_unblock_low).
    pub const CONTACT: &str = "contact";
    /// `["lid_contact", lid]` (critical_unblock_low).
    pub const LID_CONTACT: &str = "lid_contact";
    /// `["setting_pushName"]` (critical_block).
    pub const PUSH_NAME: &str = "setting_pushName";
    /// `["setting_locale"]` (critical_block).
    pub const LOCALE: &str = "setting_locale";
    /// `["archive", chat]` (regular_low).
    pub const ARCHIVE: &str = "archive";
    /// `["pin_v1", chat]` (regular_low).
    pub const PIN: &str = "pin_v1";
    /// `["markChatAsRead", chat]` (regular_low).
    pub const MARK_CHAT_AS_READ: &str = "markChatAsRead";
    /// `["setting_unarchiveChats"]` (regular_low).
    pub const UNARCHIVE_CHATS: &str = "setting_unarchiveChats";
    /// `["mute", chat]` (regular_high).
    pub const MUTE: &str = "mute";
    /// `["star", chat, message id, fromMe 0|1, sender or "0"]` (regular_high).
    pub const STAR: &str = "star";
    /// `["deleteChat", chat, deleteMedia 0|1]` (regular_high).
    pub const DELETE_CHAT: &str = "deleteChat";
    /// `["clearChat", chat, _, deleteMedia 0|1]` (regular_high).
    pub const CLEAR_CHAT: &str = "clearChat";
    /// `["deleteMessageForMe", chat, message id, fromMe 0|1, sender or "0"]` (regular_high).
    pub const DELETE_MESSAGE_FOR_ME: &str = "deleteMessageForMe";
    /// `["nct_salt_sync"]` (regular_high).
    pub const NCT_SALT: &str = "nct_salt_sync";
    /// `["label_edit", label id]` (regular).
    pub const LABEL_EDIT: &str = "label_edit";
    /// `["label_jid", label id, chat]` (regular).
    pub const LABEL_CHAT: &str = "label_jid";
    /// `["label_message", label id, chat, message id, "0", "0"]` (regular).
    pub const LABEL_MESSAGE: &str = "label_message";
}

/// What a mutation means for an inbox. JIDs are kept as the strings of the index.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncAction {
    /// Address-book entry of a contact.
    Contact {
        /// Contact JID (`index[1]`).
        jid: String,
        /// Full name as saved on the phone.
        full_name: Option<String>,
        /// First name.
        first_name: Option<String>,
        /// The contact's LID, when the index is a phone number.
        lid_jid: Option<String>,
        /// The contact's phone-number JID, when the index is a LID.
        pn_jid: Option<String>,
        /// Username, if any.
        username: Option<String>,
    },
    /// Name of a LID-only contact.
    LidContact {
        /// The LID (`index[1]`).
        jid: String,
        /// Full name.
        full_name: Option<String>,
        /// First name.
        first_name: Option<String>,
        /// Username.
        username: Option<String>,
    },
    /// Our own push name.
    PushName {
        /// The name.
        name: String,
    },
    /// Our locale setting.
    Locale {
        /// e.g. `en_US`.
        locale: String,
    },
    /// Chat archived or unarchived.
    Archive {
        /// Chat JID.
        chat: String,
        /// New state.
        archived: bool,
    },
    /// Chat pinned or unpinned.
    Pin {
        /// Chat JID.
        chat: String,
        /// New state.
        pinned: bool,
    },
    /// Chat marked read or unread.
    MarkChatAsRead {
        /// Chat JID.
        chat: String,
        /// True = read, false = marked unread.
        read: bool,
    },
    /// Chat muted or unmuted.
    Mute {
        /// Chat JID.
        chat: String,
        /// New state.
        muted: bool,
        /// Unix ms when the mute ends; -1 = forever.
        mute_end_ms: Option<i64>,
    },
    /// Whether to unarchive chats when a message arrives.
    UnarchiveChatsSetting {
        /// The setting.
        unarchive_chats: bool,
    },
    /// A message starred or unstarred.
    Star {
        /// Chat JID.
        chat: String,
        /// Message ID.
        message_id: String,
        /// Whether we sent the message.
        from_me: bool,
        /// Sender in groups (`None` for "0").
        participant: Option<String>,
        /// New state.
        starred: bool,
    },
    /// Chat deleted.
    DeleteChat {
        /// Chat JID.
        chat: String,
        /// Whether media was deleted too.
        delete_media: bool,
    },
    /// Chat cleared.
    ClearChat {
        /// Chat JID.
        chat: String,
        /// Whether media was deleted too.
        delete_media: bool,
    },
    /// A message deleted for us only.
    DeleteMessageForMe {
        /// Chat JID.
        chat: String,
        /// Message ID.
        message_id: String,
        /// Whether we sent the message.
        from_me: bool,
        /// Sender in groups (`None` for "0").
        participant: Option<String>,
        /// Whether media was deleted too.
        delete_media: bool,
    },
    /// A label created, edited or deleted.
    LabelEdit {
        /// Label ID.
        label_id: String,
        /// Display name.
        name: Option<String>,
        /// Colour index.
        color: Option<i32>,
        /// Predefined label number, if any.
        predefined_id: Option<i32>,
        /// Whether the label was deleted.
        deleted: bool,
    },
    /// A label put on or taken off a chat.
    LabelChat {
        /// Label ID.
        label_id: String,
        /// Chat JID.
        chat: String,
        /// New state.
        labeled: bool,
    },
    /// A label put on or taken off a message.
    LabelMessage {
        /// Label ID.
        label_id: String,
        /// Chat JID.
        chat: String,
        /// Message ID.
        message_id: String,
        /// New state.
        labeled: bool,
    },
    /// Salt for cstoken privacy tokens.
    NctSalt {
        /// The salt.
        salt: Vec<u8>,
    },
    /// Any other record (or a known one with too short an index).
    Other {
        /// The full index.
        index: Vec<String>,
    },
}

/// A decoded mutation with its action typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedMutation {
    /// SET or REMOVE.
    pub operation: Operation,
    /// `SyncActionValue.timestamp` (Unix ms).
    pub timestamp_ms: Option<i64>,
    /// The action.
    pub action: SyncAction,
}

impl TypedMutation {
    /// Types a decoded mutation.
    pub fn from_decoded(m: &DecodedMutation) -> Self {
        Self {
            operation: m.operation,
            timestamp_ms: m.value.as_ref().and_then(|v| v.timestamp),
            action: SyncAction::from_index(&m.index, m.value.as_ref()),
        }
    }
}

fn sender(s: &str) -> Option<String> {
    (s != "0" && !s.is_empty()).then(|| s.to_owned())
}

impl SyncAction {
    /// Types a record from its index and value. Missing value fields read as
    /// their defaults (as for a REMOVE, which may carry no value).
    ///
    /// ```
    /// use whatsapp_proto::appstate::SyncAction;
    /// use whatsapp_proto::pb::sync_action::{PinAction, SyncActionValue};
    /// let value = SyncActionValue { pin_action: Some(PinAction { pinned: Some(true) }), ..Default::default() };
    /// let index = ["pin_v1".to_string(), "1555@s.whatsapp.net".to_string()];
    /// assert_eq!(
    ///     SyncAction::from_index(&index, Some(&value)),
    ///     SyncAction::Pin { chat: "1555@s.whatsapp.net".into(), pinned: true }
    /// );
    /// ```
    pub fn from_index(index: &[String], value: Option<&SyncActionValue>) -> Self {
        use index_names as n;
        let default = SyncActionValue::default();
        let v = value.unwrap_or(&default);
        let at = |i: usize| index.get(i).cloned();
        let other = || Self::Other {
            index: index.to_vec(),
        };
        let Some(kind) = index.first() else {
            return other();
        };
        let typed = match kind.as_str() {
            n::CONTACT => at(1).map(|jid| {
                let a = v.contact_action.clone().unwrap_or_default();
                Self::Contact {
                    jid,
                    full_name: a.full_name,
                    first_name: a.first_name,
                    lid_jid: a.lid_jid,
                    pn_jid: a.pn_jid,
                    username: a.username,
                }
            }),
            n::LID_CONTACT => at(1).map(|jid| {
                let a = v.lid_contact_action.clone().unwrap_or_default();
                Self::LidContact {
                    jid,
                    full_name: a.full_name,
                    first_name: a.first_name,
                    username: a.username,
                }
            }),
            n::PUSH_NAME => Some(Self::PushName {
                name: v
                    .push_name_setting
                    .as_ref()
                    .and_then(|p| p.name.clone())
                    .unwrap_or_default(),
            }),
            n::LOCALE => Some(Self::Locale {
                locale: v
                    .locale_setting
                    .as_ref()
                    .and_then(|l| l.locale.clone())
                    .unwrap_or_default(),
            }),
            n::ARCHIVE => at(1).map(|chat| Self::Archive {
                chat,
                archived: v.archive_chat_action.as_ref().and_then(|a| a.archived) == Some(true),
            }),
            n::PIN => at(1).map(|chat| Self::Pin {
                chat,
                pinned: v.pin_action.as_ref().and_then(|a| a.pinned) == Some(true),
            }),
            n::MARK_CHAT_AS_READ => at(1).map(|chat| Self::MarkChatAsRead {
                chat,
                read: v.mark_chat_as_read_action.as_ref().and_then(|a| a.read) == Some(true),
            }),
            n::MUTE => at(1).map(|chat| Self::Mute {
                chat,
                muted: v.mute_action.as_ref().and_then(|a| a.muted) == Some(true),
                mute_end_ms: v.mute_action.as_ref().and_then(|a| a.mute_end_timestamp),
            }),
            n::UNARCHIVE_CHATS => Some(Self::UnarchiveChatsSetting {
                unarchive_chats: v
                    .unarchive_chats_setting
                    .as_ref()
                    .and_then(|a| a.unarchive_chats)
                    == Some(true),
            }),
            n::STAR if index.len() >= 5 => Some(Self::Star {
                chat: index[1].clone(),
                message_id: index[2].clone(),
                from_me: index[3] == "1",
                participant: sender(&index[4]),
                starred: v.star_action.as_ref().and_then(|a| a.starred) == Some(true),
            }),
            n::DELETE_CHAT => at(1).map(|chat| Self::DeleteChat {
                chat,
                delete_media: index.get(2).is_some_and(|s| s == "1"),
            }),
            n::CLEAR_CHAT => at(1).map(|chat| Self::ClearChat {
                chat,
                delete_media: index.get(3).is_some_and(|s| s == "1"),
            }),
            n::DELETE_MESSAGE_FOR_ME if index.len() >= 5 => Some(Self::DeleteMessageForMe {
                chat: index[1].clone(),
                message_id: index[2].clone(),
                from_me: index[3] == "1",
                participant: sender(&index[4]),
                delete_media: v
                    .delete_message_for_me_action
                    .as_ref()
                    .and_then(|a| a.delete_media)
                    == Some(true),
            }),
            n::LABEL_EDIT => at(1).map(|label_id| {
                let a = v.label_edit_action.clone().unwrap_or_default();
                Self::LabelEdit {
                    label_id,
                    name: a.name,
                    color: a.color,
                    predefined_id: a.predefined_id,
                    deleted: a.deleted == Some(true),
                }
            }),
            n::LABEL_CHAT if index.len() >= 3 => Some(Self::LabelChat {
                label_id: index[1].clone(),
                chat: index[2].clone(),
                labeled: v.label_association_action.as_ref().and_then(|a| a.labeled) == Some(true),
            }),
            n::LABEL_MESSAGE if index.len() >= 4 => Some(Self::LabelMessage {
                label_id: index[1].clone(),
                chat: index[2].clone(),
                message_id: index[3].clone(),
                labeled: v.label_association_action.as_ref().and_then(|a| a.labeled) == Some(true),
            }),
            n::NCT_SALT => Some(Self::NctSalt {
                salt: v
                    .nct_salt_sync_action
                    .as_ref()
                    .and_then(|a| a.salt.clone())
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        typed.unwrap_or_else(other)
    }
}

fn set(index: Vec<String>, value: SyncActionValue, version: i32) -> OutgoingMutation {
    OutgoingMutation {
        operation: Operation::Set,
        index,
        value,
        version,
    }
}

fn value_at(timestamp_ms: i64) -> SyncActionValue {
    SyncActionValue {
        timestamp: Some(timestamp_ms),
        ..Default::default()
    }
}

/// Builders of the mutations an inbox sends (collection in each doc). The
/// timestamp is Unix milliseconds, passed in because this crate has no clock.
impl OutgoingMutation {
    /// Archive or unarchive a chat (regular_low). `range` names the chat's last
    /// message, as WhatsApp expects.
    pub fn archive(
        chat: &str,
        archived: bool,
        range: Option<SyncActionMessageRange>,
        timestamp_ms: i64,
    ) -> Self {
        let mut v = value_at(timestamp_ms);
        v.archive_chat_action = Some(ArchiveChatAction {
            archived: Some(archived),
            message_range: range,
        });
        set(vec![index_names::ARCHIVE.into(), chat.into()], v, 3)
    }

    /// Mark a chat read or unread (regular_low).
    pub fn mark_chat_as_read(
        chat: &str,
        read: bool,
        range: Option<SyncActionMessageRange>,
        timestamp_ms: i64,
    ) -> Self {
        let mut v = value_at(timestamp_ms);
        v.mark_chat_as_read_action = Some(MarkChatAsReadAction {
            read: Some(read),
            message_range: range,
        });
        set(
            vec![index_names::MARK_CHAT_AS_READ.into(), chat.into()],
            v,
            3,
        )
    }

    /// Pin or unpin a chat (regular_low).
    pub fn pin(chat: &str, pinned: bool, timestamp_ms: i64) -> Self {
        let mut v = value_at(timestamp_ms);
        v.pin_action = Some(PinAction {
            pinned: Some(pinned),
        });
        set(vec![index_names::PIN.into(), chat.into()], v, 5)
    }

    /// Mute a chat until `mute_end_ms` (-1 = forever), or unmute with `None` (regular_high).
    pub fn mute(chat: &str, mute_end_ms: Option<i64>, timestamp_ms: i64) -> Self {
        let mut v = value_at(timestamp_ms);
        v.mute_action = Some(MuteAction {
            muted: Some(mute_end_ms.is_some()),
            mute_end_timestamp: mute_end_ms,
            auto_muted: None,
        });
        set(vec![index_names::MUTE.into(), chat.into()], v, 2)
    }

    /// Star or unstar a message (regular_high). `participant` is the sender in groups.
    pub fn star(
        chat: &str,
        message_id: &str,
        from_me: bool,
        participant: Option<&str>,
        starred: bool,
        timestamp_ms: i64,
    ) -> Self {
        let mut v = value_at(timestamp_ms);
        v.star_action = Some(StarAction {
            starred: Some(starred),
        });
        let index = vec![
            index_names::STAR.into(),
            chat.into(),
            message_id.into(),
            if from_me { "1" } else { "0" }.into(),
            participant.unwrap_or("0").into(),
        ];
        set(index, v, 2)
    }

    /// Set our push name (critical_block).
    pub fn push_name(name: &str, timestamp_ms: i64) -> Self {
        let mut v = value_at(timestamp_ms);
        v.push_name_setting = Some(PushNameSetting {
            name: Some(name.into()),
        });
        set(vec![index_names::PUSH_NAME.into()], v, 1)
    }

    /// Create, rename or delete a label (regular).
    pub fn label_edit(
        label_id: &str,
        name: &str,
        color: i32,
        deleted: bool,
        timestamp_ms: i64,
    ) -> Self {
        let mut v = value_at(timestamp_ms);
        v.label_edit_action = Some(LabelEditAction {
            name: Some(name.into()),
            color: Some(color),
            predefined_id: None,
            deleted: Some(deleted),
            order_index: None,
        });
        set(vec![index_names::LABEL_EDIT.into(), label_id.into()], v, 3)
    }

    /// Put a label on a chat or take it off (regular).
    pub fn label_chat(label_id: &str, chat: &str, labeled: bool, timestamp_ms: i64) -> Self {
        let mut v = value_at(timestamp_ms);
        v.label_association_action = Some(LabelAssociationAction {
            labeled: Some(labeled),
        });
        let index = vec![index_names::LABEL_CHAT.into(), label_id.into(), chat.into()];
        set(index, v, 3)
    }

    /// Put a label on a message or take it off (regular).
    pub fn label_message(
        label_id: &str,
        chat: &str,
        message_id: &str,
        labeled: bool,
        timestamp_ms: i64,
    ) -> Self {
        let mut v = value_at(timestamp_ms);
        v.label_association_action = Some(LabelAssociationAction {
            labeled: Some(labeled),
        });
        let index = vec![
            index_names::LABEL_MESSAGE.into(),
            label_id.into(),
            chat.into(),
            message_id.into(),
            "0".into(),
            "0".into(),
        ];
        set(index, v, 3)
    }
}
