//! Media end to end: every kind with its details reaches a customer who decrypts it, uploads
//! streamed from files and readers, generated and given thumbnails, downloads resumed after a
//! cut connection, and expired media re-uploaded by the sender's phone.

use std::time::Duration;

use sha2::{Digest, Sha256};
use whatsapp_client::{
    ClientError, MediaKind, MediaOrigin, MediaRef, MediaSource, OutgoingMedia, ReuploadError,
    TransferError,
};
use whatsapp_sim::device::{MediaKind as SimMediaKind, Outgoing};
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

use fixtures::{
    CUSTOMER, OWN_PHONE, config, copies_until, next_message, paired, temp_db, temp_dir,
};

/// Bytes that look like nothing in particular.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A PNG of `width` × `height`.
fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("png");
    out
}

/// A small JPEG a caller made for a preview.
fn jpeg_preview() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(32, 18, image::Rgb([20, 40, 200]));
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .expect("jpeg");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_reaches_the_customer_with_its_details() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("media-kinds");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let customer = sim
        .add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.issue_privacy_token(CUSTOMER, OWN_PHONE).expect("token");

    let photo = png(320, 240);
    // Larger than the upload's read piece (64 KiB): streamed from a file in several pieces.
    let video = noise(300_000, 1);
    let video_file = temp_dir("media-kinds-files").join("clip.mp4");
    std::fs::write(&video_file, &video).expect("video file");
    let round = noise(90_000, 2);
    let song = noise(150_000, 3);
    let voice = noise(20_000, 4);
    let waveform: Vec<u8> = (0..64).map(|i| (i * 3 % 101) as u8).collect();
    let pdf = noise(70_000, 5);
    let sticker = noise(9_000, 6);
    let preview = jpeg_preview();

    let sends: Vec<(&str, &str, Vec<u8>, OutgoingMedia)> = vec![
        (
            "image",
            "image",
            photo.clone(),
            OutgoingMedia::new(MediaKind::Image, photo.clone(), "image/png")
                .caption("your prescription")
                .generated_thumbnail(),
        ),
        (
            "video",
            "video",
            video.clone(),
            OutgoingMedia::new(MediaKind::Video, video_file.clone(), "video/mp4")
                .seconds(12)
                .dimensions(1280, 720)
                .thumbnail(preview.clone()),
        ),
        (
            "ptv",
            "ptv",
            round.clone(),
            OutgoingMedia::new(
                MediaKind::Ptv,
                MediaSource::reader(std::io::Cursor::new(round.clone())),
                "video/mp4",
            )
            .seconds(5)
            .dimensions(480, 480),
        ),
        (
            "audio",
            "audio",
            song.clone(),
            OutgoingMedia::new(
                MediaKind::Audio,
                MediaSource::reader(std::io::Cursor::new(song.clone())),
                "audio/mpeg",
            )
            .seconds(200),
        ),
        (
            "voice_note",
            "ptt",
            voice.clone(),
            OutgoingMedia::voice_note(voice.clone(), 9, waveform.clone()),
        ),
        (
            "document",
            "document",
            pdf.clone(),
            OutgoingMedia::document(pdf.clone(), "application/pdf", "leaflet.pdf")
                .page_count(4)
                .thumbnail(preview.clone()),
        ),
        (
            "sticker",
            "sticker",
            sticker.clone(),
            OutgoingMedia::sticker(sticker.clone(), 512, 512).animated(true),
        ),
    ];
    let mut sent = Vec::new();
    for (kind, mediatype, data, media) in sends {
        let id = client
            .send_media(&customer, media)
            .await
            .unwrap_or_else(|e| panic!("send {kind}: {e}"));
        sent.push((id, kind, mediatype, data));
    }

    let stanzas = sim.stanzas();
    for (id, kind, mediatype, data) in &sent {
        let got = copies_until(&sim, CUSTOMER, id, 1).await.remove(0);
        assert_eq!(got.kind, *kind);
        assert_eq!(got.media_error, None, "{kind}");
        assert_eq!(
            got.media_sha256.as_deref(),
            Some(sha_hex(data).as_str()),
            "{kind}"
        );
        let details = got.media_details.clone().expect("media details");
        assert_eq!(details.file_length, Some(data.len() as u64), "{kind}");
        assert_eq!(details.downloaded_length, Some(data.len() as u64), "{kind}");
        // Every <enc> of the message names its media type.
        let record = stanzas
            .iter()
            .find(|s| s.tag == "message" && s.id == *id)
            .expect("the message in the stanza log");
        assert!(
            !record.media_types.is_empty() && record.media_types.iter().all(|t| t == mediatype),
            "{kind}: {:?}",
            record.media_types
        );
        match *kind {
            "image" => {
                assert_eq!(got.text.as_deref(), Some("your prescription"));
                assert_eq!((details.width, details.height), (Some(320), Some(240)));
                let thumb = details.jpeg_thumbnail.expect("a generated thumbnail");
                let shown = image::load_from_memory(&thumb).expect("the preview is an image");
                assert_eq!((shown.width(), shown.height()), (32, 24));
                assert!(thumb.starts_with(&[0xff, 0xd8, 0xff]), "a JPEG preview");
            }
            "video" => {
                assert_eq!(details.seconds, Some(12));
                assert_eq!((details.width, details.height), (Some(1280), Some(720)));
                assert_eq!(details.jpeg_thumbnail, Some(preview.clone()));
            }
            "ptv" => {
                assert_eq!(details.seconds, Some(5));
                assert_eq!((details.width, details.height), (Some(480), Some(480)));
            }
            "audio" => assert_eq!(details.seconds, Some(200)),
            "voice_note" => {
                assert_eq!(details.seconds, Some(9));
                assert_eq!(details.waveform, Some(waveform.clone()));
                assert_eq!(details.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
            }
            "document" => {
                assert_eq!(details.file_name.as_deref(), Some("leaflet.pdf"));
                assert_eq!(details.page_count, Some(4));
                assert_eq!(details.jpeg_thumbnail, Some(preview.clone()));
            }
            "sticker" => {
                assert_eq!(details.mimetype.as_deref(), Some("image/webp"));
                assert_eq!((details.width, details.height), (Some(512), Some(512)));
                assert_eq!(details.animated, Some(true));
            }
            other => panic!("unexpected kind {other}"),
        }
    }

    // What a kind cannot carry is refused before anything is uploaded.
    let uploads = sim.media_blobs().len();
    let refused = client
        .send_media(
            &customer,
            OutgoingMedia::voice_note(voice.clone(), 9, vec![1; 10]),
        )
        .await;
    assert!(
        matches!(refused, Err(ClientError::InvalidArgument(_))),
        "{refused:?}"
    );
    assert_eq!(sim.media_blobs().len(), uploads);
    client.shutdown().await;
    sim.shutdown();
}

/// The customer sends a photo; returns it and the message as the client got it.
async fn customer_photo(
    sim: &SimHandle,
    events: &mut whatsapp_client::EventStream,
    len: usize,
) -> (Vec<u8>, Box<whatsapp_client::IncomingMessage>) {
    let photo = noise(len, 7);
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Media {
            kind: SimMediaKind::Image,
            data: photo.clone(),
            mimetype: "image/jpeg".into(),
            caption: None,
            file_name: None,
        },
        None,
    )
    .expect("send");
    (photo, next_message(events, "the customer's photo").await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_download_resumes_where_it_stopped() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("media-resume");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let (photo, mut message) = customer_photo(&sim, &mut events, 400_000).await;
    let media = MediaRef::from_incoming(&message).expect("an attachment");

    // Two connections drop mid-way: the third request asks for the rest only.
    sim.fault(&Fault::CutMediaDownloads {
        count: 2,
        after_bytes: 150_000,
    })
    .expect("fault");
    let mut file = Vec::new();
    let n = client
        .download_to(&media, &mut file)
        .await
        .expect("a resumed download");
    assert_eq!((n as usize, file == photo), (photo.len(), true));

    // The MAC and hashes still cover the whole blob across the resumption.
    sim.fault(&Fault::CutMediaDownloads {
        count: 1,
        after_bytes: 100_000,
    })
    .expect("fault");
    let mut tampered = media.clone();
    tampered.file_sha256[3] ^= 1;
    let err = client.download(&tampered).await.expect_err("a wrong hash");
    assert!(
        matches!(err, ClientError::Transfer(TransferError::Invalid(_))),
        "{err}"
    );
    message.ack();
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_media_is_reuploaded_by_the_senders_phone() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("media-reupload");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let (photo, mut message) = customer_photo(&sim, &mut events, 30_000).await;
    let media = MediaRef::from_incoming(&message).expect("an attachment");
    let old_path = media.direct_path.clone();
    sim.fault(&Fault::ExpireMedia).expect("fault");

    // Without the message it came in, no phone can be asked: the server's 404 stands.
    let mut orphan = media.clone();
    orphan.origin = None;
    let err = client.download(&orphan).await.expect_err("expired");
    assert!(
        matches!(err, ClientError::Transfer(TransferError::Status(404))),
        "{err}"
    );

    // With it, the download asks the phone, which uploads the photo again.
    assert_eq!(client.download(&media).await.expect("re-uploaded"), photo);
    let asked: Vec<_> = sim
        .stanzas()
        .into_iter()
        .filter(|s| s.tag == "receipt" && s.kind == "server-error")
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].id, message.info.id);
    assert_eq!(asked[0].to, format!("{OWN_PHONE}@s.whatsapp.net"));

    // The public request hands back the new path, as whatsmeow's callers use it.
    sim.fault(&Fault::ExpireMedia).expect("fault");
    let fresh = client
        .request_media_reupload(&media, Duration::from_secs(10))
        .await
        .expect("re-upload");
    assert_ne!(fresh.direct_path, old_path);
    assert_eq!(client.download(&fresh).await.expect("download"), photo);

    // A message the phone never sent: it says so and nothing hangs.
    let stranger = media.clone().with_origin(MediaOrigin::new(
        "3EB0000000000000DEAD",
        message.info.chat.clone(),
        None,
        false,
    ));
    let err = client
        .request_media_reupload(&stranger, Duration::from_secs(10))
        .await
        .expect_err("not the phone's");
    assert!(
        matches!(
            err,
            ClientError::Transfer(TransferError::Reupload(ReuploadError::NotOnPhone))
        ),
        "{err}"
    );
    message.ack();
    client.shutdown().await;
    sim.shutdown();
}
