//! Media encryption: key expansion, upload-side encryption and streaming,
//! verifying decryption of downloaded blobs, and the media-retry payloads.
//!
//! A media key (32 random bytes, sent in the message) expands with HKDF-SHA256
//! (no salt, a per-type info string, 112 bytes) into IV ‖ AES-256 key ‖
//! HMAC key ‖ ref key. The uploaded blob is `AES-256-CBC(PKCS#7(plaintext)) ‖
//! HMAC-SHA256(macKey, IV ‖ ciphertext)[..10]`; the message carries
//! `SHA-256(plaintext)` and `SHA-256(blob)`. Facts: fact sheet part 2 §7;
//! whatsmeow `download.go`, `upload.go`, `mediaretry.go`.
//!
//! Decryption never accepts a blob whose MAC or either hash is wrong. The
//! [`MediaDecryptor`] works on chunks so a download never has to be held in
//! memory whole: it holds back only the last 26 bytes (final block + MAC).
//!
//! ```
//! use whatsapp_proto::media::{self, MediaType};
//! let key = [7u8; 32];
//! let enc = media::encrypt(&key, MediaType::Image, b"a picture");
//! let plain = media::decrypt(&key, MediaType::Image, &enc.blob, &enc.hashes()).unwrap();
//! assert_eq!(plain, b"a picture");
//! ```

use aes::Aes256;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::pb::e2e::{MediaRetryNotification, ServerErrorReceipt};

type HmacSha256 = Hmac<Sha256>;

/// Length of the truncated HMAC appended to every encrypted blob.
pub const MAC_LEN: usize = 10;
/// AES block size.
const BLOCK: usize = 16;
/// Bytes the decryptor must hold back: the final block (for unpadding) and the MAC.
const HOLD_BACK: usize = BLOCK + MAC_LEN;
/// Length of the HKDF expansion of a media key.
pub const EXPANDED_LEN: usize = 112;
/// HKDF info of the media-retry key.
pub const MEDIA_RETRY_INFO: &str = "WhatsApp Media Retry Notification";

/// What kind of content a media key protects; selects the HKDF info string
/// and the `mms-type` used in upload and download URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// Photo (`WhatsApp Image Keys`, mms type `image`).
    Image,
    /// Sticker: image keys and image upload path.
    Sticker,
    /// Video or GIF (`WhatsApp Video Keys`, `video`).
    Video,
    /// Round video note (PTV): video keys.
    Ptv,
    /// Audio file (`WhatsApp Audio Keys`, `audio`).
    Audio,
    /// Voice note (PTT): audio keys.
    Ptt,
    /// Document (`WhatsApp Document Keys`, `document`).
    Document,
    /// History-sync blob (`WhatsApp History Keys`, `md-msg-hist`).
    History,
    /// App-state external blob (`WhatsApp App State Keys`, `md-app-state`).
    AppState,
    /// Link-preview thumbnail (`WhatsApp Link Thumbnail Keys`, `thumbnail-link`).
    LinkThumbnail,
    /// Sticker pack (`WhatsApp Sticker Pack Keys`, `sticker-pack`).
    StickerPack,
}

impl MediaType {
    /// The HKDF info string this type's keys are expanded with.
    pub fn hkdf_info(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker => "WhatsApp Image Keys",
            Self::Video | Self::Ptv => "WhatsApp Video Keys",
            Self::Audio | Self::Ptt => "WhatsApp Audio Keys",
            Self::Document => "WhatsApp Document Keys",
            Self::History => "WhatsApp History Keys",
            Self::AppState => "WhatsApp App State Keys",
            Self::LinkThumbnail => "WhatsApp Link Thumbnail Keys",
            Self::StickerPack => "WhatsApp Sticker Pack Keys",
        }
    }

    /// The `mms-type` of upload paths (`/mms/<type>/…`) and download query strings.
    pub fn mms_type(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker => "image",
            Self::Video | Self::Ptv => "video",
            Self::Audio | Self::Ptt => "audio",
            Self::Document => "document",
            Self::History => "md-msg-hist",
            Self::AppState => "md-app-state",
            Self::LinkThumbnail => "thumbnail-link",
            Self::StickerPack => "sticker-pack",
        }
    }
}

/// Errors of media decryption and of the media-retry payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The blob cannot hold one cipher block plus the MAC.
    #[error("encrypted media is {len} bytes, shorter than one block plus the {MAC_LEN}-byte MAC")]
    TooShort {
        /// Bytes received.
        len: u64,
    },
    /// The ciphertext (blob minus MAC) is not a whole number of AES blocks.
    #[error("ciphertext length {len} is not a multiple of 16")]
    UnalignedCiphertext {
        /// Ciphertext bytes received.
        len: u64,
    },
    /// `SHA-256(blob)` differs from the message's fileEncSha256.
    #[error("encrypted file SHA-256 mismatch: expected {expected}, got {actual}")]
    EncryptedHashMismatch {
        /// Hex of the expected hash.
        expected: String,
        /// Hex of the computed hash.
        actual: String,
    },
    /// The 10-byte HMAC does not match.
    #[error("media MAC mismatch")]
    MacMismatch,
    /// The final block does not end in valid PKCS#7 padding.
    #[error("invalid PKCS#7 padding (last byte {last_byte:#04x})")]
    BadPadding {
        /// The final plaintext byte, which should give the pad length.
        last_byte: u8,
    },
    /// `SHA-256(plaintext)` differs from the message's fileSha256.
    #[error("file SHA-256 mismatch: expected {expected}, got {actual}")]
    FileHashMismatch {
        /// Hex of the expected hash.
        expected: String,
        /// Hex of the computed hash.
        actual: String,
    },
    /// A hash or IV field has the wrong length.
    #[error("{field} must be {expected} bytes, got {actual}")]
    BadFieldLength {
        /// Which field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// AES-GCM authentication of a media-retry payload failed.
    #[error("media-retry payload failed authentication")]
    RetryAuthFailed,
    /// A decrypted media-retry payload is not a valid protobuf.
    #[error("media-retry notification does not decode: {reason}")]
    RetryDecode {
        /// The protobuf decoder's message.
        reason: String,
    },
}

/// The four parts of an expanded media key.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKeys {
    /// CBC initialisation vector.
    pub iv: [u8; 16],
    /// AES-256 key.
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key of the blob MAC.
    pub mac_key: [u8; 32],
    /// Unused by the protocol; kept for completeness.
    pub ref_key: [u8; 32],
}

impl std::fmt::Debug for MediaKeys {
    // Key material stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKeys(..)")
    }
}

/// HKDF-SHA256 with an empty salt, filling `out`.
pub(crate) fn hkdf_sha256(ikm: &[u8], info: &[u8], out: &mut [u8]) {
    // The output lengths used in this crate are constants far below HKDF's
    // 255-block limit, so expansion cannot fail.
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, out)
        .expect("HKDF output length is a small constant");
}

/// The 112-byte HKDF expansion of `media_key` for `media_type`.
pub fn expand_media_key(media_key: &[u8], media_type: MediaType) -> [u8; EXPANDED_LEN] {
    let mut out = [0u8; EXPANDED_LEN];
    hkdf_sha256(media_key, media_type.hkdf_info().as_bytes(), &mut out);
    out
}

impl MediaKeys {
    /// Expands a media key (normally 32 bytes) for `media_type`.
    ///
    /// ```
    /// use whatsapp_proto::media::{MediaKeys, MediaType};
    /// let keys = MediaKeys::expand(&[1; 32], MediaType::Document);
    /// assert_ne!(keys.cipher_key, keys.mac_key);
    /// ```
    pub fn expand(media_key: &[u8], media_type: MediaType) -> Self {
        let x = expand_media_key(media_key, media_type);
        let mut keys = Self {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        keys.iv.copy_from_slice(&x[..16]);
        keys.cipher_key.copy_from_slice(&x[16..48]);
        keys.mac_key.copy_from_slice(&x[48..80]);
        keys.ref_key.copy_from_slice(&x[80..112]);
        keys
    }

    fn mac(&self) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.mac_key)
            .expect("HMAC accepts any key length");
        mac.update(&self.iv);
        mac
    }
}

/// The two hashes a message carries for its media, both required for decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaHashes {
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the uploaded blob, ciphertext ‖ MAC (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
}

impl MediaHashes {
    /// Builds the pair from message fields, checking both are 32 bytes.
    pub fn from_slices(file_sha256: &[u8], file_enc_sha256: &[u8]) -> Result<Self, MediaError> {
        Ok(Self {
            file_sha256: to_array(file_sha256, "fileSha256")?,
            file_enc_sha256: to_array(file_enc_sha256, "fileEncSha256")?,
        })
    }
}

fn to_array<const N: usize>(bytes: &[u8], field: &'static str) -> Result<[u8; N], MediaError> {
    bytes.try_into().map_err(|_| MediaError::BadFieldLength {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

/// An encrypted blob ready for upload, with the fields the message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedMedia {
    /// Ciphertext ‖ 10-byte MAC: the HTTP body of the upload.
    pub blob: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of `blob`; its base64url form is the upload token.
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length in bytes.
    pub file_length: u64,
}

impl EncryptedMedia {
    /// The hash pair, as a receiver would take it from the message.
    pub fn hashes(&self) -> MediaHashes {
        MediaHashes {
            file_sha256: self.file_sha256,
            file_enc_sha256: self.file_enc_sha256,
        }
    }
}

/// Encrypts `plaintext` in one go. For large files use [`MediaEncryptor`].
pub fn encrypt(media_key: &[u8], media_type: MediaType, plaintext: &[u8]) -> EncryptedMedia {
    let mut enc = MediaEncryptor::new(media_key, media_type);
    let mut blob = Vec::with_capacity(plaintext.len() + BLOCK + MAC_LEN);
    enc.update_into(plaintext, &mut blob);
    let tail = enc.finish();
    blob.extend_from_slice(&tail.tail);
    EncryptedMedia {
        blob,
        file_sha256: tail.file_sha256,
        file_enc_sha256: tail.file_enc_sha256,
        file_length: tail.file_length,
    }
}

/// The end of a streamed encryption: the last bytes of the blob and the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionTail {
    /// Final ciphertext block(s) and the 10-byte MAC; append after every `update` output.
    pub tail: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of the whole blob.
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length in bytes.
    pub file_length: u64,
}

/// Streaming encryptor: feed plaintext chunks, write out ciphertext chunks,
/// then append [`EncryptionTail::tail`]. Holds at most 15 plaintext bytes.
pub struct MediaEncryptor {
    cipher: cbc::Encryptor<Aes256>,
    mac: HmacSha256,
    enc_hash: Sha256,
    file_hash: Sha256,
    pending: Vec<u8>,
    file_length: u64,
}

impl MediaEncryptor {
    /// Starts encrypting with the keys expanded from `media_key`.
    pub fn new(media_key: &[u8], media_type: MediaType) -> Self {
        let keys = MediaKeys::expand(media_key, media_type);
        Self {
            cipher: cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac: keys.mac(),
            enc_hash: Sha256::new(),
            file_hash: Sha256::new(),
            pending: Vec::with_capacity(BLOCK),
            file_length: 0,
        }
    }

    /// Encrypts a chunk, returning the ciphertext produced so far.
    pub fn update(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + BLOCK);
        self.update_into(chunk, &mut out);
        out
    }

    /// Encrypts a chunk, appending ciphertext to `out`.
    pub fn update_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.file_hash.update(chunk);
        self.file_length += chunk.len() as u64;
        let avail = self.pending.len() + chunk.len();
        let whole = avail / BLOCK * BLOCK;
        if whole == 0 {
            self.pending.extend_from_slice(chunk);
            return;
        }
        let start = out.len();
        out.extend_from_slice(&self.pending);
        let from_chunk = whole - self.pending.len();
        out.extend_from_slice(&chunk[..from_chunk]);
        self.pending.clear();
        self.pending.extend_from_slice(&chunk[from_chunk..]);
        self.encrypt_in_place(&mut out[start..]);
    }

    fn encrypt_in_place(&mut self, blocks: &mut [u8]) {
        for block in blocks.chunks_exact_mut(BLOCK) {
            self.cipher
                .encrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        self.mac.update(blocks);
        self.enc_hash.update(blocks);
    }

    /// Pads and encrypts the remainder, appends the MAC and returns the hashes.
    pub fn finish(mut self) -> EncryptionTail {
        let pad = BLOCK - self.pending.len();
        let mut tail = std::mem::take(&mut self.pending);
        tail.resize(BLOCK, pad as u8);
        self.encrypt_in_place(&mut tail);
        let mac = self.mac.finalize().into_bytes();
        tail.extend_from_slice(&mac[..MAC_LEN]);
        self.enc_hash.update(&mac[..MAC_LEN]);
        EncryptionTail {
            tail,
            file_sha256: self.file_hash.finalize().into(),
            file_enc_sha256: self.enc_hash.finalize().into(),
            file_length: self.file_length,
        }
    }
}

/// Decrypts and verifies a whole blob. For downloads use [`MediaDecryptor`].
pub fn decrypt(
    media_key: &[u8],
    media_type: MediaType,
    blob: &[u8],
    hashes: &MediaHashes,
) -> Result<Vec<u8>, MediaError> {
    let mut dec = MediaDecryptor::new(media_key, media_type, *hashes);
    let mut out = Vec::with_capacity(blob.len());
    dec.update_into(blob, &mut out);
    out.extend_from_slice(&dec.finish()?);
    Ok(out)
}

/// Streaming decryptor with verification at the end.
///
/// Feed the downloaded blob in chunks of any size with [`update`](Self::update);
/// each call returns the plaintext it could release. [`finish`](Self::finish)
/// checks the blob hash, the MAC, the padding and the plaintext hash and
/// returns the last plaintext bytes. **Until `finish` returns `Ok`, everything
/// released is unauthenticated**: write it to a temporary place and discard it
/// on error. Memory held between calls is at most 41 bytes.
///
/// ```
/// use whatsapp_proto::media::{self, MediaDecryptor, MediaType};
/// let key = [9u8; 32];
/// let enc = media::encrypt(&key, MediaType::Audio, &[5u8; 1000]);
/// let mut dec = MediaDecryptor::new(&key, MediaType::Audio, enc.hashes());
/// let mut plain = Vec::new();
/// for chunk in enc.blob.chunks(77) {
///     plain.extend(dec.update(chunk));
/// }
/// plain.extend(dec.finish().unwrap());
/// assert_eq!(plain, [5u8; 1000]);
/// ```
pub struct MediaDecryptor {
    keys_mac: HmacSha256,
    cipher: cbc::Decryptor<Aes256>,
    enc_hash: Sha256,
    file_hash: Sha256,
    expected: MediaHashes,
    pending: Vec<u8>,
    received: u64,
}

impl MediaDecryptor {
    /// Starts decrypting a blob made with `media_key`, to be checked against `expected`.
    pub fn new(media_key: &[u8], media_type: MediaType, expected: MediaHashes) -> Self {
        let keys = MediaKeys::expand(media_key, media_type);
        Self {
            keys_mac: keys.mac(),
            cipher: cbc::Decryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            enc_hash: Sha256::new(),
            file_hash: Sha256::new(),
            expected,
            pending: Vec::with_capacity(HOLD_BACK + BLOCK),
            received: 0,
        }
    }

    /// Total blob bytes fed so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Feeds a chunk of the blob; returns the (not yet authenticated) plaintext released.
    pub fn update(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        self.update_into(chunk, &mut out);
        out
    }

    /// Feeds a chunk of the blob, appending released plaintext to `out`.
    pub fn update_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.enc_hash.update(chunk);
        self.received += chunk.len() as u64;
        let avail = self.pending.len() + chunk.len();
        // Release whole blocks, always keeping the last block and the MAC back.
        let ready = avail.saturating_sub(HOLD_BACK) / BLOCK * BLOCK;
        if ready == 0 {
            self.pending.extend_from_slice(chunk);
            return;
        }
        let start = out.len();
        let from_pending = ready.min(self.pending.len());
        out.extend_from_slice(&self.pending[..from_pending]);
        let from_chunk = ready - from_pending;
        out.extend_from_slice(&chunk[..from_chunk]);
        self.pending.drain(..from_pending);
        self.pending.extend_from_slice(&chunk[from_chunk..]);

        let released = &mut out[start..];
        self.keys_mac.update(released);
        for block in released.chunks_exact_mut(BLOCK) {
            self.cipher
                .decrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        self.file_hash.update(&out[start..]);
    }

    /// Verifies everything and returns the last plaintext bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, MediaError> {
        if self.received < HOLD_BACK as u64 {
            return Err(MediaError::TooShort { len: self.received });
        }
        if self.pending.len() != HOLD_BACK {
            return Err(MediaError::UnalignedCiphertext {
                len: self.received - MAC_LEN as u64,
            });
        }
        let enc_hash: [u8; 32] = self.enc_hash.finalize().into();
        if enc_hash != self.expected.file_enc_sha256 {
            return Err(MediaError::EncryptedHashMismatch {
                expected: hex(&self.expected.file_enc_sha256),
                actual: hex(&enc_hash),
            });
        }
        let (last, mac) = self.pending.split_at_mut(BLOCK);
        self.keys_mac.update(last);
        self.keys_mac
            .verify_truncated_left(mac)
            .map_err(|_| MediaError::MacMismatch)?;
        self.cipher
            .decrypt_block_mut(GenericArray::from_mut_slice(last));
        let pad = last[BLOCK - 1];
        let pad_len = usize::from(pad);
        if pad_len == 0 || pad_len > BLOCK || last[BLOCK - pad_len..].iter().any(|&b| b != pad) {
            return Err(MediaError::BadPadding { last_byte: pad });
        }
        let plain = last[..BLOCK - pad_len].to_vec();
        self.file_hash.update(&plain);
        let file_hash: [u8; 32] = self.file_hash.finalize().into();
        if file_hash != self.expected.file_sha256 {
            return Err(MediaError::FileHashMismatch {
                expected: hex(&self.expected.file_sha256),
                actual: hex(&file_hash),
            });
        }
        Ok(plain)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The upload token: base64url of fileEncSha256 **with** `=` padding (whatsmeow's
/// form; Baileys strips it, see [`upload_token_unpadded`]). Also the `hash` query
/// parameter of downloads.
///
/// ```
/// assert_eq!(whatsapp_proto::media::upload_token(&[0xfb, 0xff]), "-_8=");
/// ```
pub fn upload_token(file_enc_sha256: &[u8]) -> String {
    URL_SAFE.encode(file_enc_sha256)
}

/// The upload token without padding (Baileys' form). Both are accepted by the server.
pub fn upload_token_unpadded(file_enc_sha256: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(file_enc_sha256)
}

/// The download URL for a media host, whatsmeow's form:
/// `https://<host><directPath>&hash=<token>&mms-type=<type>&__wa-mms=` (the direct
/// path already carries a `?` query).
///
/// ```
/// use whatsapp_proto::media::{download_url, MediaType};
/// assert_eq!(
///     download_url("mmg.whatsapp.net", "/v/t62/x?ccb=1", &[0xfb, 0xff], MediaType::Ptt),
///     "https://mmg.whatsapp.net/v/t62/x?ccb=1&hash=-_8=&mms-type=audio&__wa-mms="
/// );
/// ```
pub fn download_url(
    host: &str,
    direct_path: &str,
    file_enc_sha256: &[u8],
    media_type: MediaType,
) -> String {
    format!(
        "https://{host}{direct_path}&hash={}&mms-type={}&__wa-mms=",
        upload_token(file_enc_sha256),
        media_type.mms_type()
    )
}

/// The upload URL: `https://<host>/mms/<type>/<token>?auth=<auth>&token=<token>`,
/// query values percent-encoded.
///
/// ```
/// use whatsapp_proto::media::{upload_url, MediaType};
/// assert_eq!(
///     upload_url("mmg.whatsapp.net", MediaType::Image, &[0xfb, 0xff], "a+b/c="),
///     "https://mmg.whatsapp.net/mms/image/-_8=?auth=a%2Bb%2Fc%3D&token=-_8%3D"
/// );
/// ```
pub fn upload_url(host: &str, media_type: MediaType, file_enc_sha256: &[u8], auth: &str) -> String {
    let token = upload_token(file_enc_sha256);
    format!(
        "https://{host}/mms/{}/{token}?auth={}&token={}",
        media_type.mms_type(),
        query_escape(auth),
        query_escape(&token)
    )
}

/// The URL that deletes an uploaded blob from a media host (whatsmeow `upload.go`
/// `DeleteMedia`, used for history blobs once downloaded):
/// `https://<host>/mms/<type>/<token>?auth=…&d_md=…[&e_handle=…]&token=…`, with `d_md` the
/// direct path without its query, unpadded base64url, and `e_handle` the notification's
/// `encHandle` when it has one; keys in Go's sorted `url.Values` order.
///
/// ```
/// use whatsapp_proto::media::{MediaType, delete_url};
/// let url = delete_url("mmg.whatsapp.net", MediaType::History, "/v/t62/x.enc?ccb=1", &[0; 32], "a", Some("h/1"));
/// assert!(url.starts_with("https://mmg.whatsapp.net/mms/md-msg-hist/AAAA"));
/// assert!(url.contains("&d_md=L3YvdDYyL3guZW5j&e_handle=h%2F1&token="));
/// ```
pub fn delete_url(
    host: &str,
    media_type: MediaType,
    direct_path: &str,
    file_enc_sha256: &[u8],
    auth: &str,
    enc_handle: Option<&str>,
) -> String {
    let token = upload_token(file_enc_sha256);
    let path = direct_path.split('?').next().unwrap_or_default();
    let e_handle = enc_handle
        .filter(|h| !h.is_empty())
        .map(|h| format!("&e_handle={}", query_escape(h)))
        .unwrap_or_default();
    format!(
        "https://{host}/mms/{}/{token}?auth={}&d_md={}{e_handle}&token={}",
        media_type.mms_type(),
        query_escape(auth),
        URL_SAFE_NO_PAD.encode(path),
        query_escape(&token)
    )
}

/// Percent-encodes a query value as Go's `url.QueryEscape` (whatsmeow builds these URLs with
/// it): RFC 3986 unreserved characters kept, a space as `+`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `HKDF(media_key, info "WhatsApp Media Retry Notification", 32)`: the AES-256-GCM
/// key of media-retry receipts and notifications.
pub fn media_retry_key(media_key: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf_sha256(media_key, MEDIA_RETRY_INFO.as_bytes(), &mut out);
    out
}

/// Encrypts the `ServerErrorReceipt{stanzaId}` of a media-retry request: the
/// `<enc_p>` content (ciphertext with the 16-byte tag); `iv` goes in `<enc_iv>`.
/// The message id is the AAD.
pub fn encrypt_media_retry_receipt(media_key: &[u8], message_id: &str, iv: &[u8; 12]) -> Vec<u8> {
    let receipt = ServerErrorReceipt {
        stanza_id: Some(message_id.to_owned()),
    };
    let key = media_retry_key(media_key);
    let cipher = Aes256Gcm::new(&key.into());
    let payload = Payload {
        msg: &receipt.encode_to_vec(),
        aad: message_id.as_bytes(),
    };
    // AES-GCM encryption only fails for inputs beyond 64 GiB.
    cipher
        .encrypt(iv.into(), payload)
        .expect("a small protobuf always encrypts")
}

/// Decrypts and parses the `MediaRetryNotification` of a `mediaretry` notification.
pub fn decrypt_media_retry_notification(
    media_key: &[u8],
    message_id: &str,
    ciphertext: &[u8],
    iv: &[u8],
) -> Result<MediaRetryNotification, MediaError> {
    let iv: [u8; 12] = to_array(iv, "enc_iv")?;
    let key = media_retry_key(media_key);
    let cipher = Aes256Gcm::new(&key.into());
    let plain = cipher
        .decrypt(
            (&iv).into(),
            Payload {
                msg: ciphertext,
                aad: message_id.as_bytes(),
            },
        )
        .map_err(|_| MediaError::RetryAuthFailed)?;
    MediaRetryNotification::decode(plain.as_slice()).map_err(|e| MediaError::RetryDecode {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delete URL is whatsmeow's byte for byte: `url.Values` sorted, each value
    /// query-escaped, and `e_handle` only when the notification has one.
    #[test]
    fn the_delete_url_is_whatsmeows() {
        let hash = [0xfb, 0xff].repeat(16);
        let url = delete_url(
            "mmg.whatsapp.net",
            MediaType::History,
            "/v/t62.36145-24/1_2.enc?ccb=11-4&oh=x",
            &hash,
            "A+b/c=",
            Some("h/1 x"),
        );
        assert_eq!(
            url,
            "https://mmg.whatsapp.net/mms/md-msg-hist/-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8=\
             ?auth=A%2Bb%2Fc%3D&d_md=L3YvdDYyLjM2MTQ1LTI0LzFfMi5lbmM\
             &e_handle=h%2F1+x&token=-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8%3D"
        );
        for none in [None, Some("")] {
            let url = delete_url("h", MediaType::History, "/p", &hash, "a", none);
            assert!(!url.contains("e_handle"), "{url}");
        }
    }
}
