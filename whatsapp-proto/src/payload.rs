//! ClientPayload construction for registering a new device and logging in a paired one.
//!
//! The payload travels encrypted in ClientFinish (see [`crate::noise`]). Field
//! values follow whatsmeow `store/clientpayload.go` (fact sheet part 1 §4).
//! Every field the references set is set explicitly, default values included
//! (`passive = false` is on the wire as `18 00`), which the proto2 schema in
//! `proto/wa6.proto` preserves.
//!
//! ```
//! use prost::Message;
//! use whatsapp_proto::payload::{self, PayloadConfig};
//! let config = PayloadConfig::default();
//! let bytes = payload::login_payload(&config, 15551234567, 3, true).encode_to_vec();
//! let back = payload::decode_client_payload(&bytes).unwrap();
//! assert_eq!(back.username, Some(15551234567));
//! assert_eq!(back.passive, Some(true));
//! ```

use md5::{Digest, Md5};
use prost::Message;

use crate::pb::companion::DeviceProps;
use crate::pb::companion::device_props::{
    AppVersion as DevicePropsVersion, HistorySyncConfig, PlatformType,
};
use crate::pb::wa6::ClientPayload;
use crate::pb::wa6::client_payload::user_agent::{
    AppVersion as UserAgentVersion, Platform, ReleaseChannel,
};
use crate::pb::wa6::client_payload::web_info::WebSubPlatform;
use crate::pb::wa6::client_payload::{
    ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo,
};
use crate::stanza::keys::{decode_key_id, encode_key_id};

/// A WhatsApp Web version, `primary.secondary.tertiary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppVersion {
    /// Major part (2 for WhatsApp Web).
    pub primary: u32,
    /// Second part (3000 for WhatsApp Web).
    pub secondary: u32,
    /// The web client revision (`client_revision`).
    pub tertiary: u32,
}

impl AppVersion {
    /// The version sent by default.
    ///
    /// The server answers a stale version with `<failure reason="405">`
    /// (client outdated). To update, set [`PayloadConfig::app_version`] at run
    /// time, or change this constant: the current revision is the
    /// `client_revision` number in WhatsApp Web's own pages, found as
    /// whatsmeow's `GetLatestVersion` (`update.go`: fetch
    /// `https://web.whatsapp.com/`, match `"client_revision":(\d+),`) or
    /// Baileys' `fetchLatestWaWebVersion` (`src/Utils/generics.ts`: fetch
    /// `https://web.whatsapp.com/sw.js`, match
    /// `\\?"client_revision\\?":\s*(\d+)`) do; the version is then
    /// `2.3000.<client_revision>`. Checking the newest value hard-coded in
    /// whatsmeow's `store/clientpayload.go` (`waVersion`) also works.
    /// This value: whatsmeow commit 6eefbff4 (2026-08-20).
    pub const CURRENT: AppVersion = AppVersion {
        primary: 2,
        secondary: 3000,
        tertiary: 1_045_649_367,
    };

    /// Parses `"a.b.c"`.
    ///
    /// ```
    /// use whatsapp_proto::payload::AppVersion;
    /// assert_eq!(AppVersion::parse("2.3000.1045649367"), Some(AppVersion::CURRENT));
    /// assert_eq!(AppVersion::parse("2.3000"), None);
    /// ```
    pub fn parse(text: &str) -> Option<AppVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let version = AppVersion {
            primary: parts.next()??,
            secondary: parts.next()??,
            tertiary: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }

    /// The version a WhatsApp Web page announces: `2.3000.<client_revision>`, where the
    /// revision is the first `"client_revision":N,` in the page (whatsmeow `update.go`
    /// `GetLatestVersion` reads `https://web.whatsapp.com/` this way). `None` when the page
    /// holds no such number (an error page, a changed layout) or it does not fit a `u32`.
    ///
    /// ```
    /// use whatsapp_proto::payload::AppVersion;
    /// let page = r#"<script>{"server_revision":1,"client_revision":1045649367,"x":2}</script>"#;
    /// assert_eq!(AppVersion::from_web_page(page), Some(AppVersion::CURRENT));
    /// assert_eq!(AppVersion::from_web_page("<html>sorry</html>"), None);
    /// ```
    pub fn from_web_page(page: &str) -> Option<AppVersion> {
        const KEY: &str = "\"client_revision\":";
        page.match_indices(KEY).find_map(|(at, _)| {
            let rest = &page[at + KEY.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            // The pattern wants at least one digit followed by a comma.
            if digits == 0 || rest.as_bytes().get(digits) != Some(&b',') {
                return None;
            }
            Some(AppVersion {
                primary: 2,
                secondary: 3000,
                tertiary: rest[..digits].parse().ok()?,
            })
        })
    }

    /// `buildHash`: MD5 of the ASCII `"a.b.c"` (whatsmeow `WAVersionContainer.Hash`).
    pub fn build_hash(&self) -> [u8; 16] {
        Md5::digest(self.to_string().as_bytes()).into()
    }

    fn user_agent_version(&self) -> UserAgentVersion {
        UserAgentVersion {
            primary: Some(self.primary),
            secondary: Some(self.secondary),
            tertiary: Some(self.tertiary),
            ..UserAgentVersion::default()
        }
    }
}

impl Default for AppVersion {
    fn default() -> Self {
        Self::CURRENT
    }
}

impl std::fmt::Display for AppVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.primary, self.secondary, self.tertiary)
    }
}

/// What the client says about itself. Defaults are whatsmeow's; built from [`Default`] and
/// the `with_` methods or by setting fields (more may come).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PayloadConfig {
    /// The WhatsApp Web version; see [`AppVersion::CURRENT`] for updating it.
    pub app_version: AppVersion,
    /// `userAgent.osVersion` and `osBuildNumber` (`"0.1"`).
    pub os_version: String,
    /// `userAgent.device` (`"Desktop"`).
    pub device: String,
    /// `userAgent.localeLanguageIso6391` (`"en"`).
    pub locale_language: String,
    /// `userAgent.localeCountryIso31661Alpha2` (`"US"`).
    pub locale_country: String,
    /// `pushName`, sent only when set (Baileys sets it, whatsmeow does not).
    pub push_name: Option<String>,
    /// `connectType` (WIFI_UNKNOWN).
    pub connect_type: ConnectType,
    /// `connectReason` (USER_ACTIVATED).
    pub connect_reason: ConnectReason,
    /// `DeviceProps.os`, the name the phone shows for this linked device (`"whatsmeow"` in
    /// whatsmeow; set your own).
    pub device_name: String,
    /// `DeviceProps.version` (`0.1.0`).
    pub device_version: [u32; 3],
    /// `DeviceProps.platformType` (UNKNOWN).
    pub platform_type: PlatformType,
    /// `DeviceProps.requireFullSync` (false).
    pub require_full_sync: bool,
}

impl Default for PayloadConfig {
    fn default() -> Self {
        Self {
            app_version: AppVersion::CURRENT,
            os_version: "0.1".into(),
            device: "Desktop".into(),
            locale_language: "en".into(),
            locale_country: "US".into(),
            push_name: None,
            connect_type: ConnectType::WifiUnknown,
            connect_reason: ConnectReason::UserActivated,
            device_name: "whatsapp-rs".into(),
            device_version: [0, 1, 0],
            platform_type: PlatformType::Unknown,
            require_full_sync: false,
        }
    }
}

impl PayloadConfig {
    /// Sets the announced WhatsApp Web version.
    pub fn with_app_version(mut self, version: AppVersion) -> Self {
        self.app_version = version;
        self
    }

    /// Sets the name the phone shows for this linked device.
    pub fn with_device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = name.into();
        self
    }

    /// Sets the push name sent at login.
    pub fn with_push_name(mut self, name: impl Into<String>) -> Self {
        self.push_name = Some(name.into());
        self
    }
}

/// The fields shared by login and registration (whatsmeow `BaseClientPayload`).
pub fn base_payload(config: &PayloadConfig) -> ClientPayload {
    ClientPayload {
        user_agent: Some(UserAgent {
            platform: Some(Platform::Web as i32),
            release_channel: Some(ReleaseChannel::Release as i32),
            app_version: Some(config.app_version.user_agent_version()),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some(config.os_version.clone()),
            manufacturer: Some(String::new()),
            device: Some(config.device.clone()),
            os_build_number: Some(config.os_version.clone()),
            locale_language_iso6391: Some(config.locale_language.clone()),
            locale_country_iso31661_alpha2: Some(config.locale_country.clone()),
            ..UserAgent::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(WebSubPlatform::WebBrowser as i32),
            ..WebInfo::default()
        }),
        push_name: config.push_name.clone(),
        connect_type: Some(config.connect_type as i32),
        connect_reason: Some(config.connect_reason as i32),
        ..ClientPayload::default()
    }
}

/// The payload of a paired device logging in (whatsmeow `getLoginPayload`):
/// `username` is the phone number (the user part of our JID), `device` our
/// device number. `passive = true` means the server holds queued stanzas
/// until the client sends the `<active/>` IQ. `lid_db_migrated` says whether the client keeps
/// its Signal records under LIDs (whatsmeow always sends true, having moved them as it goes).
pub fn login_payload(
    config: &PayloadConfig,
    username: u64,
    device: u32,
    lid_db_migrated: bool,
) -> ClientPayload {
    ClientPayload {
        username: Some(username),
        device: Some(device),
        passive: Some(true),
        pull: Some(true),
        lid_db_migrated: Some(lid_db_migrated),
        lc: Some(1),
        ..base_payload(config)
    }
}

/// The Signal keys a new device registers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationData {
    /// The Signal registration id (sent as 4 bytes big-endian).
    pub registration_id: u32,
    /// The identity public key (32 raw bytes, no 0x05 prefix).
    pub identity_key: [u8; 32],
    /// The signed prekey id; only its low 24 bits are sent (3 bytes big-endian).
    pub signed_pre_key_id: u32,
    /// The signed prekey public key (32 raw bytes).
    pub signed_pre_key: [u8; 32],
    /// XEdDSA signature by the identity key over `0x05 ‖ signed_pre_key`.
    pub signed_pre_key_signature: [u8; 64],
}

/// libsignal's key-type byte for Curve25519 ("DJB") keys.
pub const KEY_TYPE_DJB: u8 = 0x05;

/// The serialized DeviceProps of whatsmeow's defaults with `config`'s name,
/// version, platform type and full-sync flag.
pub fn device_props(config: &PayloadConfig) -> DeviceProps {
    let [primary, secondary, tertiary] = config.device_version;
    DeviceProps {
        os: Some(config.device_name.clone()),
        version: Some(DevicePropsVersion {
            primary: Some(primary),
            secondary: Some(secondary),
            tertiary: Some(tertiary),
            ..DevicePropsVersion::default()
        }),
        platform_type: Some(config.platform_type as i32),
        require_full_sync: Some(config.require_full_sync),
        history_sync_config: Some(HistorySyncConfig {
            storage_quota_mb: Some(10240),
            inline_initial_payload_in_e2ee_msg: Some(true),
            support_call_log_history: Some(true),
            support_bot_user_agent_chat_history: Some(true),
            support_cag_reactions_and_polls: Some(true),
            support_biz_hosted_msg: Some(true),
            support_recent_sync_chunk_message_count_tuning: Some(true),
            support_hosted_group_msg: Some(true),
            support_fbid_bot_chat_history: Some(true),
            support_message_association: Some(true),
            support_group_history: Some(true),
            thumbnail_sync_days_limit: Some(60),
            support_manus_history: Some(true),
            support_hatch_history: Some(true),
            ..HistorySyncConfig::default()
        }),
    }
}

/// The payload of a new device asking to be paired (whatsmeow
/// `getRegistrationPayload`): base fields, `passive = pull = false` and the
/// DevicePairingRegistrationData.
pub fn registration_payload(config: &PayloadConfig, keys: &RegistrationData) -> ClientPayload {
    ClientPayload {
        passive: Some(false),
        pull: Some(false),
        device_pairing_data: Some(DevicePairingRegistrationData {
            e_regid: Some(keys.registration_id.to_be_bytes().to_vec()),
            e_keytype: Some(vec![KEY_TYPE_DJB]),
            e_ident: Some(keys.identity_key.to_vec()),
            e_skey_id: Some(encode_key_id(keys.signed_pre_key_id).to_vec()),
            e_skey_val: Some(keys.signed_pre_key.to_vec()),
            e_skey_sig: Some(keys.signed_pre_key_signature.to_vec()),
            build_hash: Some(config.app_version.build_hash().to_vec()),
            device_props: Some(device_props(config).encode_to_vec()),
        }),
        ..base_payload(config)
    }
}

/// Why received ClientPayload bytes were refused (the client's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not a `ClientPayload` protobuf.
    #[error("client payload is not a valid protobuf: {reason}")]
    Malformed {
        /// prost's description.
        reason: String,
    },
    /// The payload carries no DevicePairingRegistrationData, or it lacks a field.
    #[error("registration data lacks {field}")]
    Missing {
        /// The field (`"device_pairing_data"`, `"e_regid"`, ...).
        field: &'static str,
    },
    /// A registration field has the wrong length.
    #[error("{field} is {actual} bytes, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Received length.
        actual: usize,
    },
    /// `e_keytype` is not 0x05.
    #[error("key type {0:#04x} is not Curve25519 (0x05)")]
    KeyType(u8),
}

/// Parses untrusted bytes as a ClientPayload (what a server does with the
/// decrypted ClientFinish payload). Never panics.
pub fn decode_client_payload(bytes: &[u8]) -> Result<ClientPayload, PayloadError> {
    ClientPayload::decode(bytes).map_err(|e| PayloadError::Malformed {
        reason: e.to_string(),
    })
}

/// Extracts and checks the registration keys of a registration payload (the
/// inverse of [`registration_payload`], for a server).
pub fn registration_data(payload: &ClientPayload) -> Result<RegistrationData, PayloadError> {
    let data = payload
        .device_pairing_data
        .as_ref()
        .ok_or(PayloadError::Missing {
            field: "device_pairing_data",
        })?;
    let regid: [u8; 4] = fixed(&data.e_regid, "e_regid")?;
    let [key_type]: [u8; 1] = fixed(&data.e_keytype, "e_keytype")?;
    if key_type != KEY_TYPE_DJB {
        return Err(PayloadError::KeyType(key_type));
    }
    let skey_id: [u8; 3] = fixed(&data.e_skey_id, "e_skey_id")?;
    Ok(RegistrationData {
        registration_id: u32::from_be_bytes(regid),
        identity_key: fixed(&data.e_ident, "e_ident")?,
        signed_pre_key_id: decode_key_id(skey_id),
        signed_pre_key: fixed(&data.e_skey_val, "e_skey_val")?,
        signed_pre_key_signature: fixed(&data.e_skey_sig, "e_skey_sig")?,
    })
}

fn fixed<const N: usize>(
    value: &Option<Vec<u8>>,
    field: &'static str,
) -> Result<[u8; N], PayloadError> {
    let bytes = value.as_deref().ok_or(PayloadError::Missing { field })?;
    bytes.try_into().map_err(|_| PayloadError::Length {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_hash_matches_fact_sheet() {
        // Fact sheet part 1 §11.2.
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(AppVersion::CURRENT.build_hash()),
            "9fa53af9421567b114e33c9bb1ef7db2"
        );
        let baileys = AppVersion::parse("2.3000.1035194821").unwrap();
        assert_eq!(
            hex(baileys.build_hash()),
            "a2c9471eff910a9e1ae659890a28872d"
        );
    }

    #[test]
    fn the_web_page_revision_is_read_as_whatsmeow_reads_it() {
        let v = |t| AppVersion::from_web_page(t).map(|v| v.to_string());
        // The first complete match wins; a quoted, spaced or unterminated number is no match
        // (whatsmeow's pattern is `"client_revision":(\d+),`).
        assert_eq!(
            v(r#"a "client_revision":"7", "client_revision":12, "client_revision":34,"#),
            Some("2.3000.12".into())
        );
        assert_eq!(v(r#""client_revision": 12,"#), None);
        assert_eq!(v(r#""client_revision":12}"#), None);
        assert_eq!(v(r#""client_revision":"#), None);
        assert_eq!(v(r#""client_revision":99999999999,"#), None);
        assert_eq!(v(""), None);
    }

    #[test]
    fn explicit_defaults_stay_on_the_wire() {
        let keys = RegistrationData {
            registration_id: 0x0102_0304,
            identity_key: [1; 32],
            signed_pre_key_id: 1,
            signed_pre_key: [2; 32],
            signed_pre_key_signature: [3; 64],
        };
        let bytes = registration_payload(&PayloadConfig::default(), &keys).encode_to_vec();
        // passive = false (field 3) and pull = false (field 33) are present.
        assert!(bytes.windows(2).any(|w| w == [0x18, 0x00]));
        assert!(bytes.windows(3).any(|w| w == [0x88, 0x02, 0x00]));
        let back = decode_client_payload(&bytes).unwrap();
        assert_eq!(registration_data(&back).unwrap(), keys);
        let data = back.device_pairing_data.unwrap();
        assert_eq!(data.e_skey_id.unwrap(), [0, 0, 1]);
        assert_eq!(data.e_regid.unwrap(), [1, 2, 3, 4]);
        let ua = back.user_agent.unwrap();
        assert_eq!(ua.manufacturer.as_deref(), Some(""));
        assert_eq!(ua.release_channel, Some(0));
        assert_eq!(back.web_info.unwrap().web_sub_platform, Some(0));
    }
}
