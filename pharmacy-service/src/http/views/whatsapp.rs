//! Answers of the WhatsApp link routes.

use crate::domain::time::Timestamp;
use crate::http::whatsapp::{LinkState, LinkStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/whatsapp/status`: the link's status, and when a temporary ban ends.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LinkStatusView {
    /// The status as the link reports it.
    #[serde(flatten)]
    pub status: LinkStatus,
    /// When the temporary ban ends (ms since the epoch); null when not banned, or when
    /// WhatsApp did not say.
    #[schema(required = true)]
    pub ban_until: Option<Timestamp>,
}

impl From<LinkStatus> for LinkStatusView {
    fn from(status: LinkStatus) -> Self {
        // The link states a temporary ban as `detail: {code, until}` (see the bridge).
        let ban_until = match (&status.state, &status.detail) {
            (LinkState::TemporaryBan, Some(d)) => d.until,
            _ => None,
        };
        LinkStatusView { status, ban_until }
    }
}

/// The QR while unpaired (`qr`, `png_base64`, `svg` are null once paired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QrView {
    /// The link's state.
    pub state: LinkState,
    /// The string the phone scans.
    #[schema(required = true)]
    pub qr: Option<String>,
    /// The QR as a PNG, base64.
    #[schema(required = true)]
    pub png_base64: Option<String>,
    /// The QR as an SVG document.
    #[schema(required = true)]
    pub svg: Option<String>,
}

/// A pairing code for the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PairCodeView {
    /// The number, digits only.
    pub phone: String,
    /// The code to type on the phone.
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(state: LinkState, detail: Option<serde_json::Value>) -> LinkStatus {
        LinkStatus {
            state,
            phone: Some("201001234567".into()),
            name: None,
            detail: detail.map(|d| serde_json::from_value(d).unwrap()),
            recent_disconnects: Vec::new(),
        }
    }

    /// The ban's end is read once, here, from what the link states; the page reads only
    /// `ban_until`.
    #[test]
    fn the_ban_end_is_one_documented_field() {
        let banned = status(
            LinkState::TemporaryBan,
            Some(json!({ "code": 101, "until": 1_700_000_000_000_i64 })),
        );
        let v = serde_json::to_value(LinkStatusView::from(banned)).unwrap();
        assert_eq!(v["ban_until"], 1_700_000_000_000_i64);
        assert_eq!(v["state"], "temporary_ban");
        assert_eq!(v["phone"], "201001234567");
        let unknown = status(LinkState::TemporaryBan, Some(json!({ "until": null })));
        assert!(LinkStatusView::from(unknown).ban_until.is_none());
        let other = status(LinkState::Disconnected, Some(json!({ "until": 5 })));
        let v = serde_json::to_value(LinkStatusView::from(other)).unwrap();
        assert!(v["ban_until"].is_null() && v.get("ban_until").is_some());
    }

    /// The document describes the link's detail field by field, not as a free-form object.
    #[test]
    fn the_link_detail_is_typed_in_the_document() {
        let doc = crate::http::openapi::spec();
        let detail = &doc["components"]["schemas"]["LinkDetail"]["properties"];
        for field in ["reason", "code", "message", "until"] {
            assert!(detail.get(field).is_some(), "LinkDetail.{field}: {detail}");
        }
        let status = doc["components"]["schemas"]["LinkStatus"]["properties"]["detail"].to_string();
        assert!(
            status.contains("#/components/schemas/LinkDetail"),
            "{status}"
        );
        // The live `whatsappStatus` event carries the same typed detail.
        let variants = doc["components"]["schemas"]["LiveEvent"]["oneOf"]
            .as_array()
            .expect("the LiveEvent variants");
        let status = variants
            .iter()
            .find(|v| v.to_string().contains("\"whatsappStatus\""))
            .expect("the whatsappStatus event");
        assert!(
            status
                .to_string()
                .contains("#/components/schemas/LinkDetail"),
            "{status}"
        );
    }
}
