//! `signal-peer`: drive this crate's Signal implementation from the shell, so that other Signal
//! implementations (libsignal-node, libsignal-protocol-go, …) can be tested against it.
//!
//! State lives in `--dir`. Every command prints one JSON object on stdout; on failure it prints
//! `{"error": "..."}` and exits 1. No WhatsApp padding is added or removed.
//!
//! ```text
//! init      --dir=D [--reg-id=N] [--spk-id=N] [--prekey-id=N]   new identity + signed prekey + one-time prekey; prints the bundle
//! bundle    --dir=D [--new-prekey]                              prints the bundle (next unused one-time prekey)
//! session   --dir=D --peer=ADDR [--no-verify]  < bundle.json     builds an outgoing session from a bundle -> {"ok":true}
//! encrypt   --dir=D --peer=ADDR (--text=S | --hex=H)            -> {"type":"pkmsg"|"msg","hex":...}
//! decrypt   --dir=D --peer=ADDR --type=pkmsg|msg --hex=H        -> {"hex":...,"text":...}
//! group-create   --dir=D --group=G --me=ADDR                    -> {"skdm_hex":...}
//! group-process  --dir=D --group=G --sender=ADDR --hex=SKDM     -> {"ok":true}
//! group-encrypt  --dir=D --group=G --me=ADDR (--text|--hex)     -> {"type":"skmsg","hex":...}
//! group-decrypt  --dir=D --group=G --sender=ADDR --hex=H        -> {"hex":...,"text":...}
//! sign      --dir=D --hex=MSG                                   -> {"signature":HEX}
//! verify    --pub=KEY --hex=MSG --sig=SIG                       -> {"valid":true|false}, exit 1 if invalid
//! info      --dir=D                                             -> {"identity_key":HEX,"registration_id":N}
//! ```
//!
//! ADDR is `name.device` or a JID (`15551234567:2@s.whatsapp.net` → `15551234567.2`, `123:2@lid` →
//! `123_1.2`). Bundle JSON: `{"registration_id":N,"identity_key":HEX,"signed_prekey":{"id":N,
//! "public":HEX,"signature":HEX},"prekey":{"id":N,"public":HEX}|null}`; keys are printed as 33 bytes
//! (05 + 32) and accepted as 32 or 33 bytes, hex or base64. Peer identities are trusted on first
//! use; a changed identity is an error.

// Test and tool code, outside the sans-IO rule of clippy.toml.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use rand::rngs::OsRng;
use serde_json::{Value, json};
use whatsapp_proto::signal::{
    IdentityStatus, KeyPair, PreKeyBundle, PreKeyRecord, PreKeyWhisperMessage, ProtocolAddress,
    PublicKey, ResponderKeys, SIGNATURE_LEN, SenderKeyDistributionMessage, SenderKeyMessage,
    SenderKeyRecord, SessionRecord, SessionState, SignedPreKeyRecord, WhisperMessage,
    generate_registration_id,
};

type Result<T> = std::result::Result<T, String>;

/// `--key=value` options and `--flag`s after the command.
struct Args(HashMap<String, Option<String>>);

impl Args {
    fn parse(raw: &[String]) -> Result<Self> {
        let mut map = HashMap::new();
        for arg in raw {
            let body = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            match body.split_once('=') {
                Some((k, v)) => map.insert(k.to_owned(), Some(v.to_owned())),
                None => map.insert(body.to_owned(), None),
            };
        }
        Ok(Self(map))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_deref())
    }

    fn need(&self, key: &str) -> Result<&str> {
        self.get(key)
            .ok_or_else(|| format!("--{key}=... is required"))
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn number(&self, key: &str) -> Result<Option<u32>> {
        self.get(key)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| format!("--{key} must be a number"))
            })
            .transpose()
    }

    fn address(&self, key: &str) -> Result<ProtocolAddress> {
        self.need(key)?.parse().map_err(|e| format!("--{key}: {e}"))
    }

    /// The plaintext from `--text` or `--hex`.
    fn payload(&self) -> Result<Vec<u8>> {
        match (self.get("text"), self.get("hex")) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(hex)) => from_hex(hex),
            _ => Err("give exactly one of --text=S or --hex=H".into()),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("not hex: {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn from_base64(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim().trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

/// Hex if it reads as hex of a plausible length, otherwise base64.
fn hex_or_base64(text: &str, lengths: &[usize]) -> Result<Vec<u8>> {
    if let Ok(bytes) = from_hex(text)
        && lengths.contains(&bytes.len())
    {
        return Ok(bytes);
    }
    match from_base64(text) {
        Some(bytes) if lengths.contains(&bytes.len()) => Ok(bytes),
        _ => Err(format!(
            "{text:?} is not {lengths:?} bytes of hex or base64"
        )),
    }
}

fn public_key(text: &str) -> Result<PublicKey> {
    let bytes = hex_or_base64(text, &[32, 33])?;
    PublicKey::from_slice(&bytes).map_err(|e| e.to_string())
}

fn text_or_null(bytes: &[u8]) -> Value {
    std::str::from_utf8(bytes).map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// The files of one peer's state directory.
struct Store {
    dir: PathBuf,
}

/// File-name-safe form of an address or group JID.
fn file_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Store {
    fn new(args: &Args) -> Result<Self> {
        Ok(Self {
            dir: PathBuf::from(args.need("dir")?),
        })
    }

    fn path(&self, parts: &[&str]) -> PathBuf {
        parts.iter().fold(self.dir.clone(), |p, part| p.join(part))
    }

    fn read(&self, parts: &[&str]) -> Result<Option<Vec<u8>>> {
        match fs::read(self.path(parts)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", self.path(parts).display())),
        }
    }

    fn write(&self, parts: &[&str], bytes: &[u8]) -> Result<()> {
        let path = self.path(parts);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        // Write then rename, so an interrupted run never leaves half a record.
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    fn remove(&self, parts: &[&str]) -> Result<()> {
        match fs::remove_file(self.path(parts)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    fn identity(&self) -> Result<KeyPair> {
        let bytes = self
            .read(&["identity.key"])?
            .ok_or("not initialised: run init first")?;
        KeyPair::from_bytes(&bytes).map_err(|e| e.to_string())
    }

    fn registration_id(&self) -> Result<u32> {
        let bytes = self
            .read(&["registration_id"])?
            .ok_or("not initialised: run init first")?;
        String::from_utf8_lossy(&bytes)
            .trim()
            .parse()
            .map_err(|_| "bad registration_id file".into())
    }

    fn signed_prekey(&self) -> Result<SignedPreKeyRecord> {
        let bytes = self
            .read(&["signed_prekey.rec"])?
            .ok_or("not initialised: run init first")?;
        SignedPreKeyRecord::from_bytes(&bytes).map_err(|e| e.to_string())
    }

    fn prekey(&self, id: u32) -> Result<Option<PreKeyRecord>> {
        self.read(&["prekeys", &format!("{id}.rec")])?
            .map(|b| PreKeyRecord::from_bytes(&b).map_err(|e| e.to_string()))
            .transpose()
    }

    fn prekey_ids(&self) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = match fs::read_dir(self.path(&["prekeys"])) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rec")?.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        ids.sort_unstable();
        Ok(ids)
    }

    fn save_prekey(&self, prekey: &PreKeyRecord) -> Result<()> {
        self.write(
            &["prekeys", &format!("{}.rec", prekey.id)],
            &prekey.to_bytes(),
        )?;
        let next = prekey.id.saturating_add(1);
        if self.next_prekey_id()? < next {
            self.write(&["next_prekey_id"], next.to_string().as_bytes())?;
        }
        Ok(())
    }

    fn next_prekey_id(&self) -> Result<u32> {
        Ok(self
            .read(&["next_prekey_id"])?
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok())
            .unwrap_or(1))
    }

    fn session(&self, peer: &ProtocolAddress) -> Result<SessionRecord> {
        self.read(&["sessions", &file_name(&peer.to_string())])?
            .map(|b| SessionRecord::from_bytes(&b).map_err(|e| e.to_string()))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn save_session(&self, peer: &ProtocolAddress, record: &SessionRecord) -> Result<()> {
        self.write(
            &["sessions", &file_name(&peer.to_string())],
            &record.to_bytes(),
        )
    }

    fn peer_identity(&self, peer: &ProtocolAddress) -> Result<Option<PublicKey>> {
        self.read(&["identities", &file_name(&peer.to_string())])?
            .map(|b| PublicKey::from_slice(&b).map_err(|e| e.to_string()))
            .transpose()
    }

    fn save_peer_identity(&self, peer: &ProtocolAddress, key: &PublicKey) -> Result<()> {
        self.write(
            &["identities", &file_name(&peer.to_string())],
            key.as_bytes(),
        )
    }

    fn sender_key_path(group: &str, sender: &ProtocolAddress) -> [String; 3] {
        [
            "sender_keys".into(),
            file_name(group),
            file_name(&sender.to_string()),
        ]
    }

    fn sender_key(&self, group: &str, sender: &ProtocolAddress) -> Result<SenderKeyRecord> {
        let [a, b, c] = Self::sender_key_path(group, sender);
        self.read(&[&a, &b, &c])?
            .map(|b| SenderKeyRecord::from_bytes(&b).map_err(|e| e.to_string()))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn save_sender_key(
        &self,
        group: &str,
        sender: &ProtocolAddress,
        record: &SenderKeyRecord,
    ) -> Result<()> {
        let [a, b, c] = Self::sender_key_path(group, sender);
        self.write(&[&a, &b, &c], &record.to_bytes())
    }

    fn bundle_json(&self, prekey: Option<&PreKeyRecord>) -> Result<Value> {
        let spk = self.signed_prekey()?;
        Ok(json!({
            "registration_id": self.registration_id()?,
            "identity_key": to_hex(&self.identity()?.public.serialize()),
            "signed_prekey": {
                "id": spk.id,
                "public": to_hex(&spk.key_pair.public.serialize()),
                "signature": to_hex(&spk.signature),
            },
            "prekey": prekey.map(|k| json!({"id": k.id, "public": to_hex(&k.key_pair.public.serialize())})),
        }))
    }
}

fn parse_bundle(json: &Value) -> Result<PreKeyBundle> {
    let number = |v: &Value, what: &str| -> Result<u32> {
        // Numbers written as strings are accepted too.
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("bundle: {what} must be a number"))
    };
    let string = |v: &Value, what: &str| -> Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("bundle: {what} must be a string"))
    };
    let spk = &json["signed_prekey"];
    let signature = hex_or_base64(
        &string(&spk["signature"], "signed_prekey.signature")?,
        &[SIGNATURE_LEN],
    )?;
    let prekey = match &json["prekey"] {
        Value::Null => None,
        pk => Some((
            number(&pk["id"], "prekey.id")?,
            public_key(&string(&pk["public"], "prekey.public")?)?,
        )),
    };
    Ok(PreKeyBundle {
        registration_id: number(&json["registration_id"], "registration_id")?,
        identity_key: public_key(&string(&json["identity_key"], "identity_key")?)?,
        signed_prekey_id: number(&spk["id"], "signed_prekey.id")?,
        signed_prekey: public_key(&string(&spk["public"], "signed_prekey.public")?)?,
        signed_prekey_signature: signature
            .try_into()
            .map_err(|_| "bundle: signature length")?,
        prekey,
    })
}

fn run(command: &str, args: &Args) -> Result<Value> {
    let mut rng = OsRng;
    match command {
        "init" => {
            let store = Store::new(args)?;
            for sub in ["prekeys", "sessions", "identities", "sender_keys"] {
                let _ = fs::remove_dir_all(store.path(&[sub]));
            }
            let _ = fs::remove_file(store.path(&["next_prekey_id"]));
            let identity = KeyPair::generate(&mut rng);
            let registration_id = match args.number("reg-id")? {
                Some(id) => id,
                None => generate_registration_id(&mut rng),
            };
            let spk_id = args.number("spk-id")?.unwrap_or(1);
            let prekey_id = args.number("prekey-id")?.unwrap_or(1);
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let spk = SignedPreKeyRecord::generate(spk_id, &identity, now_ms, &mut rng);
            let prekey = PreKeyRecord::generate(prekey_id, &mut rng);
            store.write(&["identity.key"], &identity.to_bytes())?;
            store.write(&["registration_id"], registration_id.to_string().as_bytes())?;
            store.write(&["signed_prekey.rec"], &spk.to_bytes())?;
            store.save_prekey(&prekey)?;
            store.bundle_json(Some(&prekey))
        }
        "bundle" => {
            let store = Store::new(args)?;
            let prekey = if args.flag("new-prekey") {
                let prekey = PreKeyRecord::generate(store.next_prekey_id()?, &mut rng);
                store.save_prekey(&prekey)?;
                Some(prekey)
            } else {
                match store.prekey_ids()?.first() {
                    Some(&id) => store.prekey(id)?,
                    None => None,
                }
            };
            store.bundle_json(prekey.as_ref())
        }
        "session" => {
            let store = Store::new(args)?;
            let peer = args.address("peer")?;
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("reading stdin: {e}"))?;
            let json: Value =
                serde_json::from_str(&input).map_err(|e| format!("bundle is not JSON: {e}"))?;
            let bundle = parse_bundle(&json)?;
            let identity = store.identity()?;
            let registration_id = store.registration_id()?;
            let stored = store.peer_identity(&peer)?;
            let mut record = store.session(&peer)?;
            let status = if args.flag("no-verify") {
                let status =
                    whatsapp_proto::signal::check_identity(stored.as_ref(), &bundle.identity_key)
                        .map_err(|e| e.to_string())?;
                let state = SessionState::initiate(
                    &identity,
                    registration_id,
                    &bundle,
                    KeyPair::generate(&mut rng),
                    KeyPair::generate(&mut rng),
                );
                record.promote_state(state);
                status
            } else {
                record
                    .process_bundle(
                        &identity,
                        registration_id,
                        &bundle,
                        stored.as_ref(),
                        &mut rng,
                    )
                    .map_err(|e| e.to_string())?
            };
            if status == IdentityStatus::FirstUse {
                store.save_peer_identity(&peer, &bundle.identity_key)?;
            }
            store.save_session(&peer, &record)?;
            Ok(json!({"ok": true}))
        }
        "encrypt" => {
            let store = Store::new(args)?;
            let peer = args.address("peer")?;
            let plaintext = args.payload()?;
            let mut record = store.session(&peer)?;
            let message = record.encrypt(&plaintext).map_err(|e| e.to_string())?;
            store.save_session(&peer, &record)?;
            Ok(json!({"type": message.enc_type(), "hex": to_hex(message.serialized())}))
        }
        "decrypt" => {
            let store = Store::new(args)?;
            let peer = args.address("peer")?;
            let bytes = from_hex(args.need("hex")?)?;
            let mut record = store.session(&peer)?;
            let plaintext = match args.need("type")? {
                "pkmsg" => {
                    let message =
                        PreKeyWhisperMessage::decode(&bytes).map_err(|e| e.to_string())?;
                    let identity = store.identity()?;
                    let signed_prekey = store.signed_prekey()?;
                    let one_time = match message.pre_key_id() {
                        Some(id) => store.prekey(id)?,
                        None => None,
                    };
                    let stored = store.peer_identity(&peer)?;
                    let keys = ResponderKeys {
                        identity: &identity,
                        registration_id: store.registration_id()?,
                        signed_prekey: Some(&signed_prekey),
                        one_time_prekey: one_time.as_ref(),
                        stored_identity: stored.as_ref(),
                    };
                    let out = record
                        .decrypt_prekey(&message, &keys, &mut rng)
                        .map_err(|e| e.to_string())?;
                    if let Some(id) = out.used_pre_key_id {
                        store.remove(&["prekeys", &format!("{id}.rec")])?;
                    }
                    if out.identity_status == IdentityStatus::FirstUse {
                        store.save_peer_identity(&peer, &out.identity)?;
                    }
                    out.plaintext
                }
                "msg" => {
                    let message = WhisperMessage::decode(&bytes).map_err(|e| e.to_string())?;
                    record
                        .decrypt(&message, &mut rng)
                        .map_err(|e| e.to_string())?
                }
                other => return Err(format!("--type must be pkmsg or msg, not {other:?}")),
            };
            store.save_session(&peer, &record)?;
            Ok(json!({"hex": to_hex(&plaintext), "text": text_or_null(&plaintext)}))
        }
        "group-create" => {
            let store = Store::new(args)?;
            let group = args.need("group")?;
            let me = args.address("me")?;
            let mut record = store.sender_key(group, &me)?;
            let skdm = record.create_distribution_message(&mut rng);
            store.save_sender_key(group, &me, &record)?;
            Ok(json!({"skdm_hex": to_hex(skdm.serialized())}))
        }
        "group-process" => {
            let store = Store::new(args)?;
            let group = args.need("group")?;
            let sender = args.address("sender")?;
            let skdm = SenderKeyDistributionMessage::decode(&from_hex(args.need("hex")?)?)
                .map_err(|e| e.to_string())?;
            let mut record = store.sender_key(group, &sender)?;
            record.process_distribution_message(&skdm);
            store.save_sender_key(group, &sender, &record)?;
            Ok(json!({"ok": true}))
        }
        "group-encrypt" => {
            let store = Store::new(args)?;
            let group = args.need("group")?;
            let me = args.address("me")?;
            let plaintext = args.payload()?;
            let mut record = store.sender_key(group, &me)?;
            let message = record
                .encrypt(&plaintext, &mut rng)
                .map_err(|e| e.to_string())?;
            store.save_sender_key(group, &me, &record)?;
            Ok(json!({"type": "skmsg", "hex": to_hex(message.serialized())}))
        }
        "group-decrypt" => {
            let store = Store::new(args)?;
            let group = args.need("group")?;
            let sender = args.address("sender")?;
            let message = SenderKeyMessage::decode(&from_hex(args.need("hex")?)?)
                .map_err(|e| e.to_string())?;
            let mut record = store.sender_key(group, &sender)?;
            let plaintext = record.decrypt(&message).map_err(|e| e.to_string())?;
            store.save_sender_key(group, &sender, &record)?;
            Ok(json!({"hex": to_hex(&plaintext), "text": text_or_null(&plaintext)}))
        }
        "sign" => {
            let store = Store::new(args)?;
            let message = from_hex(args.need("hex")?)?;
            let signature = store.identity()?.private.sign(&message, &mut rng);
            Ok(json!({"signature": to_hex(&signature)}))
        }
        "verify" => {
            let key = public_key(args.need("pub")?)?;
            let message = from_hex(args.need("hex")?)?;
            let signature = hex_or_base64(args.need("sig")?, &[SIGNATURE_LEN])?;
            Ok(json!({"valid": key.verify_signature(&message, &signature)}))
        }
        "info" => {
            let store = Store::new(args)?;
            Ok(json!({
                "identity_key": to_hex(&store.identity()?.public.serialize()),
                "registration_id": store.registration_id()?,
            }))
        }
        other => Err(format!(
            "unknown command {other:?}; commands: init bundle session encrypt decrypt group-create \
             group-process group-encrypt group-decrypt sign verify info"
        )),
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let result = match raw.split_first() {
        Some((command, rest)) => Args::parse(rest).and_then(|args| run(command, &args)),
        None => Err("usage: signal-peer COMMAND --dir=D ... (see the source header)".into()),
    };
    match result {
        Ok(value) => {
            println!("{value}");
            if value.get("valid") == Some(&Value::Bool(false)) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            println!("{}", json!({ "error": error }));
            ExitCode::FAILURE
        }
    }
}
