//! Pure mappings from the Django system's values to the service's.

use crate::domain::phone::normalize_phone;
use crate::domain::ticket::{Priority, TicketStatus};
use crate::domain::time::Timestamp;

/// A customer's WhatsApp identity: phone number or LID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// International digits (`201001234567`).
    Phone(String),
    /// LID user part.
    Lid(String),
}

/// Reads Django's `Customer.phone`: a number in any Egyptian spelling (`01001234567`,
/// `+20 100 123 4567`, `201001234567`), or a wppconnect chat id (`201001234567@c.us`,
/// `1234@lid`).
pub fn customer_identity(raw: &str) -> Result<Identity, String> {
    let raw = raw.trim();
    if let Some(lid) = raw.strip_suffix("@lid") {
        let lid = lid.split(':').next().unwrap_or(lid);
        return if !lid.is_empty() && lid.chars().all(|c| c.is_ascii_digit()) {
            Ok(Identity::Lid(lid.to_owned()))
        } else {
            Err(format!("LID {raw:?} is not numeric"))
        };
    }
    let number = ["@c.us", "@s.whatsapp.net"]
        .iter()
        .find_map(|s| raw.strip_suffix(s))
        .map(|n| n.split(':').next().unwrap_or(n))
        .unwrap_or(raw);
    normalize_phone(number)
        .map(|p| Identity::Phone(p.as_str().to_owned()))
        .map_err(|e| format!("phone {raw:?}: {e}"))
}

/// Django ticket status -> service status.
pub fn ticket_status(raw: &str) -> Option<TicketStatus> {
    Some(
        match raw
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "open" | "new" | "assigned" | "in_progress" | "active" | "reopened" | "unassigned" => {
                TicketStatus::Open
            }
            "pending" | "waiting" | "on_hold" | "hold" | "waiting_customer" => {
                TicketStatus::Pending
            }
            "closed" | "resolved" | "done" | "solved" | "archived" | "completed" => {
                TicketStatus::Closed
            }
            _ => return None,
        },
    )
}

/// Django priority -> service priority (`medium` is the service's `normal`).
pub fn priority(raw: &str) -> Option<Priority> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "low" | "1" => Priority::Low,
        "normal" | "medium" | "default" | "2" => Priority::Normal,
        "high" | "3" => Priority::High,
        "urgent" | "critical" | "4" => Priority::Urgent,
        _ => return None,
    })
}

pub use crate::domain::message::SenderKind;
use crate::domain::message::{Direction, MessageKind, MessageStatus};

/// Which way a message of this sender went.
pub fn direction(kind: SenderKind) -> Direction {
    match kind {
        SenderKind::Customer => Direction::In,
        SenderKind::Agent | SenderKind::System => Direction::Out,
    }
}

/// Django `Message.sender` -> who wrote it.
pub fn sender(raw: &str) -> Option<SenderKind> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "customer" | "client" | "user" | "contact" | "incoming" | "in" | "inbound" => {
            SenderKind::Customer
        }
        "agent" | "admin" | "staff" | "pharmacist" | "employee" | "outgoing" | "out"
        | "outbound" => SenderKind::Agent,
        "system" | "bot" | "auto" | "auto_reply" | "autoreply" | "template" => SenderKind::System,
        _ => return None,
    })
}

/// Django `Message.message_type` -> service message kind.
pub fn message_kind(raw: &str) -> Option<MessageKind> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "text" | "chat" | "" => MessageKind::Text,
        "image" | "photo" | "picture" => MessageKind::Image,
        "audio" | "voice" | "ptt" => MessageKind::Audio,
        "video" | "gif" => MessageKind::Video,
        "document" | "file" | "pdf" => MessageKind::Document,
        "sticker" => MessageKind::Sticker,
        "location" => MessageKind::Location,
        "contact" | "vcard" | "contacts" => MessageKind::Contact,
        _ => return None,
    })
}

/// Django message status -> service status, for outgoing messages. Messages still `pending`
/// in Django were never confirmed sent; they come in as `failed` (second value true) so an
/// agent sees they may need resending. Incoming messages are always `received`.
pub fn outgoing_status(raw: &str) -> Option<(MessageStatus, bool)> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "sent" => (MessageStatus::Sent, false),
        "delivered" => (MessageStatus::Delivered, false),
        "read" | "seen" | "played" => (MessageStatus::Read, false),
        "failed" | "error" => (MessageStatus::Failed, false),
        "pending" | "queued" | "sending" => (MessageStatus::Failed, true),
        "received" => (MessageStatus::Sent, false),
        _ => return None,
    })
}

/// Django auto-reply match type -> service `match_kind`.
pub fn match_kind(raw: Option<&str>) -> Option<&'static str> {
    let Some(raw) = raw else {
        return Some("contains");
    };
    Some(
        match raw
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "contains" | "icontains" | "" | "partial" | "keyword" => "contains",
            "exact" | "iexact" | "equals" | "exact_match" => "exact",
            "starts_with" | "startswith" | "istartswith" | "prefix" => "starts_with",
            _ => return None,
        },
    )
}

/// The tags in Django's `Customer.tags` text: a JSON list or a comma/Arabic-comma/semicolon
/// separated list.
pub fn split_tags(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    let mut out: Vec<String> = Vec::new();
    let parts: Vec<String> = match serde_json::from_str::<Vec<String>>(raw) {
        Ok(list) => list,
        Err(_) => raw
            .split([',', '،', ';', '\n'])
            .map(str::to_owned)
            .collect(),
    };
    for p in parts {
        let t = p.trim().trim_matches('#').trim().to_owned();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// A template key from a name: lower-case letters and digits (Arabic kept) joined by `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            out.extend(c.to_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    out
}

/// The WhatsApp message id inside a wppconnect serialized id
/// (`true_201001234567@c.us_3EB0C767D26A1D1F4E35` -> `3EB0C767D26A1D1F4E35`).
pub fn wa_message_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let id = if raw.contains('@') {
        raw.rsplit('_').next().unwrap_or(raw)
    } else {
        raw
    };
    (!id.is_empty()).then(|| id.to_owned())
}

/// One transfer of a ticket: (from agent, to agent, when).
pub type Transfer = (Option<i64>, Option<i64>, Timestamp);

/// The agent who had a ticket at `at`, from its transfers (oldest first): the receiving agent of
/// the last transfer before `at`, else the giving agent of the first transfer, else `current`.
pub fn agent_at(transfers: &[Transfer], at: Timestamp, current: Option<i64>) -> Option<i64> {
    match transfers.iter().rev().find(|t| t.2 <= at) {
        Some(t) => t.1.or(current),
        None => transfers.first().and_then(|t| t.0).or(current),
    }
}

/// A MIME type from a file name's extension.
pub fn mime_from_name(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "ogg" | "opus" | "oga" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "txt" => "text/plain",
        "vcf" => "text/vcard",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        for (raw, want) in [
            ("01001234567", "201001234567"),
            ("+20 100 123 4567", "201001234567"),
            ("201001234567", "201001234567"),
            ("1001234567", "201001234567"),
            ("201001234567@c.us", "201001234567"),
            ("٠١٠٠١٢٣٤٥٦٧", "201001234567"),
        ] {
            assert_eq!(
                customer_identity(raw),
                Ok(Identity::Phone(want.into())),
                "{raw}"
            );
        }
        assert_eq!(
            customer_identity("123456789@lid"),
            Ok(Identity::Lid("123456789".into()))
        );
        assert!(customer_identity("0100").is_err());
        assert!(customer_identity("call me").is_err());
    }

    #[test]
    fn statuses_and_kinds() {
        assert_eq!(ticket_status("OPEN"), Some(TicketStatus::Open));
        assert_eq!(ticket_status("in progress"), Some(TicketStatus::Open));
        assert_eq!(ticket_status("Resolved"), Some(TicketStatus::Closed));
        assert_eq!(ticket_status("waiting"), Some(TicketStatus::Pending));
        assert_eq!(ticket_status("lost"), None);
        assert_eq!(priority("medium"), Some(Priority::Normal));
        assert_eq!(priority("??"), None);
        assert_eq!(sender("Customer"), Some(SenderKind::Customer));
        assert_eq!(sender("bot").map(direction), Some(Direction::Out));
        assert_eq!(message_kind("ptt"), Some(MessageKind::Audio));
        assert_eq!(message_kind("poll"), None);
        assert_eq!(
            outgoing_status("pending"),
            Some((MessageStatus::Failed, true))
        );
        assert_eq!(match_kind(Some("iexact")), Some("exact"));
        assert_eq!(match_kind(None), Some("contains"));
        assert_eq!(match_kind(Some("regex")), None);
    }

    #[test]
    fn agent_at_a_time() {
        let t = |m| Timestamp(m);
        let log = [(Some(1), Some(2), t(10)), (Some(2), Some(3), t(20))];
        assert_eq!(agent_at(&log, t(5), Some(3)), Some(1));
        assert_eq!(agent_at(&log, t(10), Some(3)), Some(2));
        assert_eq!(agent_at(&log, t(15), Some(3)), Some(2));
        assert_eq!(agent_at(&log, t(25), Some(3)), Some(3));
        assert_eq!(agent_at(&[], t(25), Some(7)), Some(7));
        assert_eq!(agent_at(&[(None, Some(2), t(10))], t(5), Some(2)), Some(2));
    }

    #[test]
    fn tags_slugs_ids() {
        assert_eq!(
            split_tags("vip, مزمن، #diabetes"),
            ["vip", "مزمن", "diabetes"]
        );
        assert_eq!(split_tags(r#"["vip","vip","ضغط"]"#), ["vip", "ضغط"]);
        assert!(split_tags("  ").is_empty());
        assert_eq!(slug("Welcome Message!"), "welcome-message");
        assert_eq!(slug("رسالة الترحيب"), "رسالة-الترحيب");
        assert_eq!(
            wa_message_id("true_201001234567@c.us_3EB0C767D26A1D1F4E35").as_deref(),
            Some("3EB0C767D26A1D1F4E35")
        );
        assert_eq!(wa_message_id("ABC").as_deref(), Some("ABC"));
        assert_eq!(mime_from_name("x/Photo.JPG"), "image/jpeg");
    }
}
