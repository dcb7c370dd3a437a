//! Media crypto: the media KAT of ../shared/vectors/crypto/media_appstate_kat.json, streaming
//! in every chunking, and refusal of every kind of tampering.

use serde_json::Value;
use whatsapp_proto::media::{
    self, MediaDecryptor, MediaEncryptor, MediaError, MediaHashes, MediaKeys, MediaType,
};

pub(crate) fn kat() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/crypto/media_appstate_kat.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub(crate) fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).unwrap()
}

fn media_key() -> Vec<u8> {
    hexv(&kat()["media_key"])
}

#[test]
fn media_key_expansions_match_kat() {
    let kat = kat();
    let key = media_key();
    let cases = [
        ("image", MediaType::Image),
        ("video", MediaType::Video),
        ("audio", MediaType::Audio),
        ("document", MediaType::Document),
        ("history", MediaType::History),
        ("app_state", MediaType::AppState),
        ("link_thumbnail", MediaType::LinkThumbnail),
        ("sticker_pack", MediaType::StickerPack),
    ];
    for (name, ty) in cases {
        let expected = hexv(&kat["media_expansions_112"][name]);
        assert_eq!(
            media::expand_media_key(&key, ty).to_vec(),
            expected,
            "{name}"
        );
    }
    // Types sharing keys with another.
    assert_eq!(
        media::expand_media_key(&key, MediaType::Sticker),
        media::expand_media_key(&key, MediaType::Image)
    );
    assert_eq!(
        media::expand_media_key(&key, MediaType::Ptt),
        media::expand_media_key(&key, MediaType::Audio)
    );
    assert_eq!(
        media::expand_media_key(&key, MediaType::Ptv),
        media::expand_media_key(&key, MediaType::Video)
    );
}

#[test]
fn media_type_strings() {
    assert_eq!(MediaType::Image.hkdf_info(), "WhatsApp Image Keys");
    assert_eq!(MediaType::History.hkdf_info(), "WhatsApp History Keys");
    assert_eq!(MediaType::AppState.hkdf_info(), "WhatsApp App State Keys");
    assert_eq!(MediaType::Sticker.mms_type(), "image");
    assert_eq!(MediaType::Ptt.mms_type(), "audio");
    assert_eq!(MediaType::History.mms_type(), "md-msg-hist");
    assert_eq!(MediaType::AppState.mms_type(), "md-app-state");
    assert_eq!(MediaType::LinkThumbnail.mms_type(), "thumbnail-link");
}

#[test]
fn image_upload_matches_kat() {
    let kat = kat();
    let v = &kat["media_image"];
    let key = media_key();
    let keys = MediaKeys::expand(&key, MediaType::Image);
    assert_eq!(keys.iv.to_vec(), hexv(&v["iv"]));
    assert_eq!(keys.cipher_key.to_vec(), hexv(&v["cipher_key"]));
    assert_eq!(keys.mac_key.to_vec(), hexv(&v["mac_key"]));
    assert_eq!(keys.ref_key.to_vec(), hexv(&v["ref_key"]));

    let plaintext = hexv(&v["plaintext"]);
    let enc = media::encrypt(&key, MediaType::Image, &plaintext);
    let ciphertext = hexv(&v["ciphertext"]);
    assert_eq!(&enc.blob[..ciphertext.len()], ciphertext.as_slice());
    assert_eq!(&enc.blob[ciphertext.len()..], hexv(&v["mac10"]).as_slice());
    assert_eq!(enc.blob, hexv(&v["uploaded_blob"]));
    assert_eq!(enc.file_sha256.to_vec(), hexv(&v["file_sha256"]));
    assert_eq!(enc.file_enc_sha256.to_vec(), hexv(&v["file_enc_sha256"]));
    assert_eq!(enc.file_length, v["file_length"].as_u64().unwrap());
    assert_eq!(
        media::upload_token(&enc.file_enc_sha256),
        v["token_base64url_padded"].as_str().unwrap()
    );
    assert_eq!(
        media::upload_token_unpadded(&enc.file_enc_sha256),
        v["token_base64url_nopad"].as_str().unwrap()
    );

    let hashes =
        MediaHashes::from_slices(&hexv(&v["file_sha256"]), &hexv(&v["file_enc_sha256"])).unwrap();
    let plain =
        media::decrypt(&key, MediaType::Image, &hexv(&v["uploaded_blob"]), &hashes).unwrap();
    assert_eq!(plain, plaintext);
}

#[test]
fn media_retry_key_matches_kat() {
    let kat = kat();
    assert_eq!(
        media::media_retry_key(&media_key()).to_vec(),
        hexv(&kat["media_retry_key"])
    );
}

#[test]
fn media_retry_round_trip_and_tamper() {
    let key = media_key();
    let iv = [3u8; 12];
    let enc = media::encrypt_media_retry_receipt(&key, "3EB0ABCDEF", &iv);
    // The phone answers with a MediaRetryNotification under the same key and AAD.
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use prost::Message as _;
    let note = whatsapp_proto::pb::e2e::MediaRetryNotification {
        stanza_id: Some("3EB0ABCDEF".into()),
        direct_path: Some("/v/t62/abc".into()),
        result: Some(1),
        message_secret: None,
    };
    let cipher = aes_gcm::Aes256Gcm::new(&media::media_retry_key(&key).into());
    let ct = cipher
        .encrypt(
            (&iv).into(),
            Payload {
                msg: &note.encode_to_vec(),
                aad: b"3EB0ABCDEF",
            },
        )
        .unwrap();
    let got = media::decrypt_media_retry_notification(&key, "3EB0ABCDEF", &ct, &iv).unwrap();
    assert_eq!(got, note);
    // Our receipt decrypts to ServerErrorReceipt{stanza_id}.
    let plain = cipher
        .decrypt(
            (&iv).into(),
            Payload {
                msg: &enc,
                aad: b"3EB0ABCDEF",
            },
        )
        .unwrap();
    let receipt = whatsapp_proto::pb::e2e::ServerErrorReceipt::decode(plain.as_slice()).unwrap();
    assert_eq!(receipt.stanza_id.as_deref(), Some("3EB0ABCDEF"));
    // Wrong AAD or short IV are errors.
    assert_eq!(
        media::decrypt_media_retry_notification(&key, "OTHER", &ct, &iv),
        Err(MediaError::RetryAuthFailed)
    );
    assert!(matches!(
        media::decrypt_media_retry_notification(&key, "3EB0ABCDEF", &ct, &iv[..8]),
        Err(MediaError::BadFieldLength {
            field: "enc_iv",
            ..
        })
    ));
}

#[test]
fn streaming_matches_one_shot_for_every_chunking() {
    let key = [0x42u8; 32];
    for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let one_shot = media::encrypt(&key, MediaType::Video, &plaintext);
        for chunk in [1usize, 2, 3, 10, 16, 26, 27, 64, 4096] {
            // Streamed encryption gives the same bytes and hashes.
            let mut enc = MediaEncryptor::new(&key, MediaType::Video);
            let mut blob = Vec::new();
            for c in plaintext.chunks(chunk) {
                blob.extend(enc.update(c));
            }
            let tail = enc.finish();
            blob.extend(&tail.tail);
            assert_eq!(blob, one_shot.blob, "len {len} chunk {chunk}");
            assert_eq!(tail.file_enc_sha256, one_shot.file_enc_sha256);
            assert_eq!(tail.file_sha256, one_shot.file_sha256);
            assert_eq!(tail.file_length, len as u64);

            // Streamed decryption gives the plaintext back.
            let mut dec = MediaDecryptor::new(&key, MediaType::Video, one_shot.hashes());
            let mut out = Vec::new();
            for c in blob.chunks(chunk) {
                out.extend(dec.update(c));
            }
            assert_eq!(dec.bytes_received(), blob.len() as u64);
            out.extend(dec.finish().unwrap());
            assert_eq!(out, plaintext, "len {len} chunk {chunk}");
        }
    }
}

#[test]
fn decryptor_holds_back_at_most_a_block_and_mac() {
    let key = [1u8; 32];
    let plaintext = vec![9u8; 10_000];
    let enc = media::encrypt(&key, MediaType::Document, &plaintext);
    let mut dec = MediaDecryptor::new(&key, MediaType::Document, enc.hashes());
    let mut released = 0usize;
    for (i, c) in enc.blob.chunks(1000).enumerate() {
        released += dec.update(c).len();
        let fed = ((i + 1) * 1000).min(enc.blob.len());
        // Everything except the final block, the MAC and a partial block is released.
        assert!(
            fed - released <= 16 + 10 + 15,
            "fed {fed} released {released}"
        );
    }
    released += dec.finish().unwrap().len();
    assert_eq!(released, plaintext.len());
}

fn expect_err(key: &[u8], blob: &[u8], hashes: &MediaHashes) -> MediaError {
    media::decrypt(key, MediaType::Image, blob, hashes).expect_err("tampering must be refused")
}

#[test]
fn tampering_is_refused() {
    let kat = kat();
    let v = &kat["media_image"];
    let key = media_key();
    let blob = hexv(&v["uploaded_blob"]);
    let hashes =
        MediaHashes::from_slices(&hexv(&v["file_sha256"]), &hexv(&v["file_enc_sha256"])).unwrap();

    // Any flipped bit changes the blob hash.
    for i in [0, 50, blob.len() - 11, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        assert!(matches!(
            expect_err(&key, &bad, &hashes),
            MediaError::EncryptedHashMismatch { .. }
        ));
    }
    // A flipped bit with a matching blob hash (attacker controls the message) fails the MAC.
    let mut bad = blob.clone();
    bad[5] ^= 0x80;
    let forged = MediaHashes {
        file_enc_sha256: sha256(&bad),
        ..hashes
    };
    assert_eq!(expect_err(&key, &bad, &forged), MediaError::MacMismatch);
    // Wrong key: MAC.
    assert_eq!(
        expect_err(&[0u8; 32], &blob, &hashes),
        MediaError::MacMismatch
    );
    // Wrong plaintext hash.
    let wrong_plain = MediaHashes {
        file_sha256: [0; 32],
        ..hashes
    };
    assert!(matches!(
        expect_err(&key, &blob, &wrong_plain),
        MediaError::FileHashMismatch { .. }
    ));
    // Truncations.
    for cut in [0usize, 5, 10, 25] {
        let short = &blob[..cut];
        assert_eq!(
            expect_err(&key, short, &hashes),
            MediaError::TooShort { len: cut as u64 }
        );
    }
    let unaligned = &blob[..blob.len() - 1];
    assert!(matches!(
        expect_err(&key, unaligned, &hashes),
        MediaError::UnalignedCiphertext { len } if len == (blob.len() - 11) as u64
    ));
    // Bad hash lengths from a message are errors, not panics.
    assert!(matches!(
        MediaHashes::from_slices(&[0; 31], &[0; 32]),
        Err(MediaError::BadFieldLength {
            field: "fileSha256",
            expected: 32,
            actual: 31
        })
    ));
}

#[test]
fn bad_padding_is_refused_even_with_valid_mac() {
    // Build a blob whose MAC and hashes are valid but whose padding is not (a
    // buggy or hostile sender): encrypt raw blocks without PKCS#7.
    use aes::cipher::{BlockEncryptMut, KeyIvInit, generic_array::GenericArray};
    use hmac::Mac;
    let key = [5u8; 32];
    let keys = MediaKeys::expand(&key, MediaType::Image);
    let mut data = [0u8; 32];
    data[31] = 0x00; // pad byte 0 is invalid
    let mut enc = cbc::Encryptor::<aes::Aes256>::new(&keys.cipher_key.into(), &keys.iv.into());
    for block in data.chunks_exact_mut(16) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&keys.mac_key).unwrap();
    mac.update(&keys.iv);
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let mut blob = data.to_vec();
    blob.extend_from_slice(&tag[..10]);
    let hashes = MediaHashes {
        file_sha256: [0; 32],
        file_enc_sha256: sha256(&blob),
    };
    assert_eq!(
        media::decrypt(&key, MediaType::Image, &blob, &hashes),
        Err(MediaError::BadPadding { last_byte: 0 })
    );
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// No input makes the decryptor panic, and only the untouched blob is accepted:
/// 100,000 random and mutated blobs fed in random chunkings (seeded, reproducible).
#[test]
fn decryptor_survives_random_and_mutated_blobs() {
    use rand::{Rng, RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x3d1a);
    let key = [0x17u8; 32];
    let pool: Vec<(Vec<u8>, media::EncryptedMedia)> = [0usize, 1, 15, 16, 17, 100, 300]
        .iter()
        .map(|&n| {
            let mut p = vec![0u8; n];
            rng.fill_bytes(&mut p);
            let enc = media::encrypt(&key, MediaType::Document, &p);
            (p, enc)
        })
        .collect();
    let mut accepted = 0u32;
    for round in 0..100_000u32 {
        let (plain, enc) = &pool[rng.gen_range(0..pool.len())];
        let mut blob = enc.blob.clone();
        let mut hashes = enc.hashes();
        match round % 4 {
            // Pure noise of any length, noise hashes.
            0 => {
                blob = vec![0u8; rng.gen_range(0..120)];
                rng.fill_bytes(&mut blob);
                rng.fill_bytes(&mut hashes.file_enc_sha256);
            }
            // Noise with a matching blob hash, to reach the MAC check.
            1 => {
                blob = vec![0u8; rng.gen_range(0..10) * 16 + rng.gen_range(0..3) * 5 + 10];
                rng.fill_bytes(&mut blob);
                hashes.file_enc_sha256 = sha256(&blob);
            }
            // Mutations of a valid blob, sometimes with a forged blob hash.
            2 | 3 => {
                for _ in 0..rng.gen_range(1..4) {
                    let n = blob.len();
                    match rng.gen_range(0..5) {
                        0 if n > 0 => {
                            let i = rng.gen_range(0..n);
                            blob[i] ^= 1 << rng.gen_range(0..8);
                        }
                        1 if n > 0 => {
                            let i = rng.gen_range(0..n);
                            blob[i] = rng.r#gen();
                        }
                        2 => blob.truncate(rng.gen_range(0..=n)),
                        3 => {
                            let i = rng.gen_range(0..=n);
                            blob.insert(i, rng.r#gen());
                        }
                        _ => blob.extend((0..rng.gen_range(1..20)).map(|_| rng.r#gen::<u8>())),
                    }
                }
                if round % 4 == 3 {
                    hashes.file_enc_sha256 = sha256(&blob);
                }
            }
            _ => unreachable!(),
        }
        let mut dec = MediaDecryptor::new(&key, MediaType::Document, hashes);
        let mut out = Vec::new();
        let mut rest = blob.as_slice();
        while !rest.is_empty() {
            let take = rng.gen_range(1..=rest.len().min(64));
            out.extend(dec.update(&rest[..take]));
            rest = &rest[take..];
        }
        if let Ok(tail) = dec.finish() {
            out.extend(tail);
            assert_eq!(blob, enc.blob, "only the genuine blob may verify");
            assert_eq!(&out, plain);
            accepted += 1;
        }
    }
    // Some mutations are no-ops (truncating to the full length, rewriting a byte with
    // itself); those blobs are genuine and verify. Everything else was refused above.
    assert!(accepted < 50_000, "{accepted} accepted");
}
