//! Which top-level fields a message sets, read from the wire: prost generates no
//! reflection and drops fields it does not know, so the field numbers are read from the
//! encoded bytes and named from the schema's table.

use prost::Message as _;

use crate::pb::e2e;

/// The names of the top-level `e2e.Message` fields set in `m`, `messageContextInfo` left
/// out.
///
/// prost generates no reflection, but it encodes exactly the fields that are set, in field
/// order: the message is re-encoded and the field numbers read from the wire
/// ([`field_numbers`]), then named from the schema ([`field_name`]).
pub fn present_fields(m: &e2e::Message) -> Vec<String> {
    let mut names = Vec::new();
    for number in field_numbers(&m.encode_to_vec()) {
        if number == MESSAGE_CONTEXT_INFO {
            continue;
        }
        let name = field_name(number).map_or_else(|| format!("#{number}"), str::to_owned);
        push_unique(&mut names, name);
    }
    names
}

pub(super) fn push_unique(names: &mut Vec<String>, name: String) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// `messageContextInfo`: metadata, not content.
pub const MESSAGE_CONTEXT_INFO: u32 = 35;

/// The top-level field numbers of a protobuf message, in wire order (repeats kept). Stops
/// at the first malformed byte: total, never panics.
pub fn field_numbers(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((key, after)) = varint(rest) else {
            break;
        };
        let (number, wire_type) = (key >> 3, key & 7);
        let Ok(number) = u32::try_from(number) else {
            break;
        };
        if number == 0 {
            break;
        }
        let skipped = match wire_type {
            0 => varint(after).map(|(_, r)| r),
            1 => after.get(8..),
            2 => varint(after).and_then(|(len, r)| r.get(usize::try_from(len).ok()?..)),
            5 => after.get(4..),
            // Groups (3, 4) are not used by this schema; anything else is malformed.
            _ => None,
        };
        let Some(next) = skipped else {
            break;
        };
        out.push(number);
        rest = next;
    }
    out
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The protobuf name of a top-level `e2e.Message` field our schema declares
/// (proto/e2e.proto; the schema test checks this table against it).
pub fn field_name(number: u32) -> Option<&'static str> {
    FIELD_NAMES
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, name)| *name)
}

/// Every field of `e2e.Message` in proto/e2e.proto, with its upstream (camelCase) name.
pub const FIELD_NAMES: &[(u32, &str)] = &[
    (1, "conversation"),
    (2, "senderKeyDistributionMessage"),
    (3, "imageMessage"),
    (4, "contactMessage"),
    (5, "locationMessage"),
    (6, "extendedTextMessage"),
    (7, "documentMessage"),
    (8, "audioMessage"),
    (9, "videoMessage"),
    (12, "protocolMessage"),
    (13, "contactsArrayMessage"),
    (15, "fastRatchetKeySenderKeyDistributionMessage"),
    (18, "liveLocationMessage"),
    (26, "stickerMessage"),
    (29, "templateButtonReplyMessage"),
    (31, "deviceSentMessage"),
    (35, "messageContextInfo"),
    (37, "viewOnceMessage"),
    (39, "listResponseMessage"),
    (40, "ephemeralMessage"),
    (43, "buttonsResponseMessage"),
    (46, "reactionMessage"),
    (48, "interactiveResponseMessage"),
    (49, "pollCreationMessage"),
    (50, "pollUpdateMessage"),
    (53, "documentWithCaptionMessage"),
    (55, "viewOnceMessageV2"),
    (56, "encReactionMessage"),
    (58, "editedMessage"),
    (59, "viewOnceMessageV2Extension"),
    (60, "pollCreationMessageV2"),
    (63, "pinInChatMessage"),
    (64, "pollCreationMessageV3"),
    (66, "ptvMessage"),
    (67, "botInvokeMessage"),
    (74, "lottieStickerMessage"),
    (91, "associatedChildMessage"),
    (96, "groupStatusMessage"),
    (103, "groupStatusMessageV2"),
];

/// Whether an (unwrapped) message carries anything for an application: a field other than
/// sender-key distribution (2, 15) and `messageContextInfo`, or, in the `plaintext` it was
/// decoded from, a top-level field the schema does not know (prost drops those).
pub fn carries_content(message: &e2e::Message, plaintext: &[u8]) -> bool {
    let meta = |n: &u32| matches!(*n, 2 | 15 | MESSAGE_CONTEXT_INFO);
    field_numbers(&message.encode_to_vec())
        .iter()
        .any(|n| !meta(n))
        || field_numbers(plaintext)
            .iter()
            .any(|n| field_name(*n).is_none())
}
