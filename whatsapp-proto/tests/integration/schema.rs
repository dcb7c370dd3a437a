//! Protobuf schemas (proto/e2e, adv, syncd, sync_action, history): hand-computed wire
//! bytes pin the field numbers and types; round trips cover every important message.

use prost::Message as _;
use whatsapp_proto::pb::adv::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList,
};
use whatsapp_proto::pb::e2e::{
    self, AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint, AppStateSyncKeyId,
    AppStateSyncKeyRequest, AppStateSyncKeyShare, AudioMessage, ContactMessage,
    ContactsArrayMessage, ContextInfo, DeviceListMetadata, DeviceSentMessage, DocumentMessage,
    ExtendedTextMessage, FutureProofMessage, HistorySyncNotification, HistorySyncType,
    ImageMessage, LiveLocationMessage, LocationMessage, Message, MessageContextInfo, MessageKey,
    PeerDataOperationRequestMessage, PeerDataOperationRequestType, PollCreationMessage,
    ProtocolMessage, ReactionMessage, SenderKeyDistributionMessage, StickerMessage, VideoMessage,
    protocol_message,
};
use whatsapp_proto::pb::history::{
    Conversation, HistorySync, HistorySyncMsg, PhoneNumberToLidMapping, Pushname, WebMessageInfo,
    history_sync, web_message_info,
};
use whatsapp_proto::pb::sync_action::{
    ArchiveChatAction, ContactAction, LabelAssociationAction, LabelEditAction,
    MarkChatAsReadAction, PushNameSetting, SyncActionData, SyncActionMessage,
    SyncActionMessageRange, SyncActionValue,
};
use whatsapp_proto::pb::syncd::{
    ExternalBlobReference, KeyId, SyncdMutation, SyncdMutations, SyncdPatch, SyncdRecord,
    SyncdSnapshot, SyncdVersion, syncd_mutation,
};

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn round_trip<M: prost::Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let bytes = m.encode_to_vec();
    let back = M::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(&back, m);
    assert_eq!(back.encode_to_vec(), bytes, "re-encoding is stable");
}

fn text(s: &str) -> Message {
    Message {
        conversation: Some(s.into()),
        ..Default::default()
    }
}

fn key() -> MessageKey {
    MessageKey {
        remote_jid: Some("a".into()),
        from_me: Some(true),
        id: Some("I".into()),
        participant: None,
    }
}

#[test]
fn message_wire_bytes() {
    // conversation = 1 (string)
    assert_eq!(hex(&text("hi").encode_to_vec()), "0a026869");
    // The Signal KAT's padded plaintext starts with Message{conversation="Hello Bob"}.
    assert_eq!(
        hex(&text("Hello Bob").encode_to_vec()),
        "0a0948656c6c6f20426f62"
    );

    // extendedTextMessage = 6, text = 1, contextInfo = 17 (tag 8a 01),
    // stanzaId = 1, participant = 2, quotedMessage = 3.
    let m = Message {
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("hi".into()),
            context_info: Some(Box::new(ContextInfo {
                stanza_id: Some("X".into()),
                participant: Some("p".into()),
                quoted_message: Some(Box::new(text("q"))),
                ..Default::default()
            })),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(
        hex(&m.encode_to_vec()),
        "3212".to_owned() + "0a026869" + "8a010b" + "0a0158" + "120170" + "1a030a0171"
    );

    // protocolMessage = 12: key = 1 {remoteJid 1, fromMe 2, id 3}, type = 2 (REVOKE = 0).
    let m = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(key()),
            r#type: Some(protocol_message::Type::Revoke as i32),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(
        hex(&m.encode_to_vec()),
        "620c0a080a01611001".to_owned() + "1a01491000"
    );

    // audioMessage = 8: seconds = 5, PTT = 6.
    let m = Message {
        audio_message: Some(Box::new(AudioMessage {
            seconds: Some(5),
            ptt: Some(true),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(hex(&m.encode_to_vec()), "420428053001");

    // reactionMessage = 46 (tag f2 02), text = 2.
    let m = Message {
        reaction_message: Some(ReactionMessage {
            text: Some("👍".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(hex(&m.encode_to_vec()), "f202061204f09f918d");

    // Wrapper and metadata tags: stickerMessage 26 (d2 01), deviceSentMessage 31 (fa 01),
    // messageContextInfo 35 (9a 02), viewOnceMessage 37 (aa 02), ephemeralMessage 40 (c2 02),
    // documentWithCaptionMessage 53 (aa 03), editedMessage 58 (d2 03), imageMessage 3 (1a),
    // contactMessage 4 (22), locationMessage 5 (2a), documentMessage 7 (3a), videoMessage 9 (4a),
    // contactsArrayMessage 13 (6a), liveLocationMessage 18 (92 01), SKDM 2 (12).
    let cases: Vec<(Message, &str)> = vec![
        (
            Message {
                sticker_message: Some(Box::default()),
                ..Default::default()
            },
            "d20100",
        ),
        (
            Message {
                device_sent_message: Some(Box::default()),
                ..Default::default()
            },
            "fa0100",
        ),
        (
            Message {
                message_context_info: Some(MessageContextInfo {
                    message_secret: Some(vec![0xab]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "9a02031a01ab",
        ),
        (
            Message {
                view_once_message: Some(Box::default()),
                ..Default::default()
            },
            "aa0200",
        ),
        (
            Message {
                ephemeral_message: Some(Box::new(FutureProofMessage {
                    message: Some(Box::new(text("x"))),
                })),
                ..Default::default()
            },
            "c202050a030a0178",
        ),
        (
            Message {
                document_with_caption_message: Some(Box::default()),
                ..Default::default()
            },
            "aa0300",
        ),
        (
            Message {
                edited_message: Some(Box::default()),
                ..Default::default()
            },
            "d20300",
        ),
        (
            Message {
                image_message: Some(Box::default()),
                ..Default::default()
            },
            "1a00",
        ),
        (
            Message {
                contact_message: Some(Box::default()),
                ..Default::default()
            },
            "2200",
        ),
        (
            Message {
                location_message: Some(Box::new(LocationMessage {
                    degrees_latitude: Some(1.5),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "2a09090000000000 00f83f",
        ),
        (
            Message {
                document_message: Some(Box::default()),
                ..Default::default()
            },
            "3a00",
        ),
        (
            Message {
                video_message: Some(Box::default()),
                ..Default::default()
            },
            "4a00",
        ),
        (
            Message {
                contacts_array_message: Some(Box::default()),
                ..Default::default()
            },
            "6a00",
        ),
        (
            Message {
                live_location_message: Some(Box::default()),
                ..Default::default()
            },
            "920100",
        ),
        (
            Message {
                sender_key_distribution_message: Some(SenderKeyDistributionMessage {
                    group_id: Some("g".into()),
                    axolotl_sender_key_distribution_message: Some(vec![0x33]),
                }),
                ..Default::default()
            },
            "12060a016712013 3",
        ),
    ];
    for (m, expected) in cases {
        assert_eq!(hex(&m.encode_to_vec()), expected.replace(' ', ""), "{m:?}");
    }

    // ContextInfo: mentionedJid 15 (7a), isForwarded 22 (b0 01), expiration 25 (c8 01).
    let c = ContextInfo {
        mentioned_jid: vec!["m".into()],
        is_forwarded: Some(true),
        expiration: Some(86400),
        ..Default::default()
    };
    assert_eq!(hex(&c.encode_to_vec()), "7a016db00101c80180a305");
    // externalAdReply = 28 (e2 01), sourceID = 8: the ad a click-to-WhatsApp chat came from.
    let c = ContextInfo {
        external_ad_reply: Some(e2e::context_info::ExternalAdReplyInfo {
            source_id: Some("1".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(hex(&c.encode_to_vec()), "e20103420131");
}

/// What customers' phones send (issue 20): reply kinds, polls, round video, live location,
/// contact lists, edits, and every wrapper the content model looks through.
#[test]
fn inbound_shapes_wire_bytes() {
    let wrap = || Some(Box::new(FutureProofMessage::default()));
    // Empty wrappers: viewOnceMessageV2 55 (ba 03), viewOnceMessageV2Extension 59 (da 03),
    // botInvokeMessage 67 (9a 04), lottieStickerMessage 74 (d2 04), associatedChildMessage
    // 91 (da 05), groupStatusMessage 96 (82 06), groupStatusMessageV2 103 (ba 06).
    let cases: Vec<(Message, &str)> = vec![
        (
            Message {
                view_once_message_v2: wrap(),
                ..Default::default()
            },
            "ba0300",
        ),
        (
            Message {
                view_once_message_v2_extension: wrap(),
                ..Default::default()
            },
            "da0300",
        ),
        (
            Message {
                bot_invoke_message: wrap(),
                ..Default::default()
            },
            "9a0400",
        ),
        (
            Message {
                lottie_sticker_message: wrap(),
                ..Default::default()
            },
            "d20400",
        ),
        (
            Message {
                associated_child_message: wrap(),
                ..Default::default()
            },
            "da0500",
        ),
        (
            Message {
                group_status_message: wrap(),
                ..Default::default()
            },
            "820600",
        ),
        (
            Message {
                group_status_message_v2: wrap(),
                ..Default::default()
            },
            "ba0600",
        ),
        // buttonsResponseMessage 43 (da 02): selectedButtonId 1, selectedDisplayText 2, type 4.
        (
            Message {
                buttons_response_message: Some(Box::new(e2e::ButtonsResponseMessage {
                    selected_button_id: Some("a".into()),
                    selected_display_text: Some("b".into()),
                    r#type: Some(e2e::buttons_response_message::Type::DisplayText as i32),
                    context_info: None,
                })),
                ..Default::default()
            },
            "da0208 0a0161 120162 2001",
        ),
        // listResponseMessage 39 (ba 02): singleSelectReply 3 {selectedRowId 1}, description 5.
        (
            Message {
                list_response_message: Some(Box::new(e2e::ListResponseMessage {
                    single_select_reply: Some(e2e::list_response_message::SingleSelectReply {
                        selected_row_id: Some("r".into()),
                    }),
                    description: Some("d".into()),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "ba0208 1a030a0172 2a0164",
        ),
        // templateButtonReplyMessage 29 (ea 01): selectedId 1, selectedIndex 4.
        (
            Message {
                template_button_reply_message: Some(Box::new(e2e::TemplateButtonReplyMessage {
                    selected_id: Some("i".into()),
                    selected_index: Some(2),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "ea0105 0a0169 2002",
        ),
        // interactiveResponseMessage 48 (82 03): body 1 {text 1}, nativeFlowResponseMessage 2
        // {paramsJSON 2}, contextInfo 15 (7a).
        (
            Message {
                interactive_response_message: Some(Box::new(e2e::InteractiveResponseMessage {
                    body: Some(e2e::interactive_response_message::Body {
                        text: Some("t".into()),
                        format: None,
                    }),
                    native_flow_response_message: Some(
                        e2e::interactive_response_message::NativeFlowResponseMessage {
                            params_json: Some("{}".into()),
                            ..Default::default()
                        },
                    ),
                    context_info: Some(Box::default()),
                })),
                ..Default::default()
            },
            "82030d 0a030a0174 120412027b7d 7a00",
        ),
        // pollCreationMessageV3 64 (82 04): name 2, options 3 {optionName 1},
        // selectableOptionsCount 4; V1 is 49 (8a 03), V2 60 (e2 03).
        (
            Message {
                poll_creation_message_v3: Some(Box::new(PollCreationMessage {
                    name: Some("q".into()),
                    options: vec![e2e::poll_creation_message::Option {
                        option_name: Some("a".into()),
                        option_hash: None,
                    }],
                    selectable_options_count: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "82040a 120171 1a030a0161 2001",
        ),
        (
            Message {
                poll_creation_message: Some(Box::default()),
                ..Default::default()
            },
            "8a0300",
        ),
        (
            Message {
                poll_creation_message_v2: Some(Box::default()),
                ..Default::default()
            },
            "e20300",
        ),
        // pollUpdateMessage 50 (92 03): pollCreationMessageKey 1 {id 3}, vote 2 {encPayload 1,
        // encIV 2}, senderTimestampMS 4.
        (
            Message {
                poll_update_message: Some(e2e::PollUpdateMessage {
                    poll_creation_message_key: Some(MessageKey {
                        id: Some("I".into()),
                        ..Default::default()
                    }),
                    vote: Some(e2e::PollEncValue {
                        enc_payload: Some(vec![0xaa]),
                        enc_iv: Some(vec![0xbb]),
                    }),
                    metadata: None,
                    sender_timestamp_ms: Some(1),
                }),
                ..Default::default()
            },
            "92030f 0a031a0149 12060a01aa1201bb 2001",
        ),
        // ptvMessage 66 (92 04) is a VideoMessage: seconds 5.
        (
            Message {
                ptv_message: Some(Box::new(VideoMessage {
                    seconds: Some(3),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "920402 2803",
        ),
        // liveLocationMessage 18: caption 6, sequenceNumber 7.
        (
            Message {
                live_location_message: Some(Box::new(LiveLocationMessage {
                    caption: Some("c".into()),
                    sequence_number: Some(2),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "920105 320163 3802",
        ),
        // contactsArrayMessage 13: displayName 1, contacts 2 {vcard 16 (82 01)}.
        (
            Message {
                contacts_array_message: Some(Box::new(ContactsArrayMessage {
                    display_name: Some("n".into()),
                    contacts: vec![ContactMessage {
                        vcard: Some("v".into()),
                        ..Default::default()
                    }],
                    context_info: None,
                })),
                ..Default::default()
            },
            "6a09 0a016e 120482010176",
        ),
        // protocolMessage 12: type 2 = MESSAGE_EDIT (14), editedMessage 14 (72).
        (
            Message {
                protocol_message: Some(Box::new(ProtocolMessage {
                    r#type: Some(protocol_message::Type::MessageEdit as i32),
                    edited_message: Some(Box::new(text("x"))),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "6207 100e 72030a0178",
        ),
    ];
    for (m, expected) in cases {
        assert_eq!(hex(&m.encode_to_vec()), expected.replace(' ', ""), "{m:?}");
        round_trip(&m);
    }
    // ContextInfo: forwardingScore 21 (a8 01).
    let c = ContextInfo {
        forwarding_score: Some(4),
        ..Default::default()
    };
    assert_eq!(hex(&c.encode_to_vec()), "a80104");
}

#[test]
fn protocol_payload_wire_bytes() {
    // type HISTORY_SYNC_NOTIFICATION = 5, historySyncNotification = 6 {syncType = 6 (ON_DEMAND)}.
    let p = ProtocolMessage {
        r#type: Some(protocol_message::Type::HistorySyncNotification as i32),
        history_sync_notification: Some(HistorySyncNotification {
            sync_type: Some(HistorySyncType::OnDemand as i32),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(hex(&p.encode_to_vec()), "100532023006");
    // MESSAGE_EDIT = 14 with editedMessage = 14 and timestampMS = 15.
    let p = ProtocolMessage {
        r#type: Some(protocol_message::Type::MessageEdit as i32),
        edited_message: Some(Box::new(text("e"))),
        timestamp_ms: Some(1),
        ..Default::default()
    };
    assert_eq!(hex(&p.encode_to_vec()), "100e72030a01657801");
    // AppStateSyncKeyShare{keys[{keyId{keyId}, keyData{keyData, timestamp = 3}}]}.
    let share = AppStateSyncKeyShare {
        keys: vec![AppStateSyncKey {
            key_id: Some(AppStateSyncKeyId {
                key_id: Some(vec![0xaa]),
            }),
            key_data: Some(AppStateSyncKeyData {
                key_data: Some(vec![0xbb]),
                fingerprint: None,
                timestamp: Some(1),
            }),
        }],
    };
    assert_eq!(hex(&share.encode_to_vec()), "0a0c0a030a01aa12050a01bb1801");
    // Packed repeated uint32: deviceIndexes = 3.
    let fp = AppStateSyncKeyFingerprint {
        device_indexes: vec![1, 2],
        ..Default::default()
    };
    assert_eq!(hex(&fp.encode_to_vec()), "1a020102");
    let dl = DeviceListMetadata {
        sender_key_indexes: vec![0, 5],
        recipient_key_indexes: vec![7],
        ..Default::default()
    };
    assert_eq!(hex(&dl.encode_to_vec()), "1a020005520107");
    // Types: ProtocolMessage.Type values.
    assert_eq!(protocol_message::Type::Revoke as i32, 0);
    assert_eq!(protocol_message::Type::EphemeralSetting as i32, 3);
    assert_eq!(protocol_message::Type::AppStateSyncKeyShare as i32, 6);
    assert_eq!(protocol_message::Type::AppStateSyncKeyRequest as i32, 7);
    assert_eq!(
        protocol_message::Type::PeerDataOperationRequestMessage as i32,
        16
    );
    assert_eq!(PeerDataOperationRequestType::HistorySyncOnDemand as i32, 3);
}

#[test]
fn adv_wire_bytes() {
    let h = AdvSignedDeviceIdentityHmac {
        details: Some(vec![1]),
        hmac: Some(vec![2]),
        account_type: Some(AdvEncryptionType::Hosted as i32),
    };
    assert_eq!(hex(&h.encode_to_vec()), "0a0101120102".to_owned() + "1801");
    let s = AdvSignedDeviceIdentity {
        details: Some(vec![1]),
        account_signature_key: Some(vec![2]),
        account_signature: Some(vec![3]),
        device_signature: Some(vec![4]),
    };
    assert_eq!(
        hex(&s.encode_to_vec()),
        "0a01011201021a01032201 04".replace(' ', "")
    );
    let d = AdvDeviceIdentity {
        raw_id: Some(1),
        timestamp: Some(2),
        key_index: Some(3),
        account_type: Some(0),
        device_type: Some(1),
    };
    assert_eq!(
        hex(&d.encode_to_vec()),
        "0801100218032000".to_owned() + "2801"
    );
    let l = AdvKeyIndexList {
        raw_id: Some(1),
        timestamp: Some(2),
        current_index: Some(3),
        valid_indexes: vec![0, 3],
        account_type: None,
    };
    assert_eq!(hex(&l.encode_to_vec()), "08011002180322020003");
    let sl = AdvSignedKeyIndexList {
        details: Some(vec![1]),
        account_signature: Some(vec![2]),
        account_signature_key: Some(vec![3]),
    };
    assert_eq!(hex(&sl.encode_to_vec()), "0a01011201021a0103");
    round_trip(&h);
    round_trip(&s);
    round_trip(&d);
    round_trip(&l);
    round_trip(&sl);
}

#[test]
fn syncd_and_history_wire_bytes() {
    let p = SyncdPatch {
        version: Some(SyncdVersion { version: Some(5) }),
        snapshot_mac: Some(vec![1]),
        patch_mac: Some(vec![2]),
        key_id: Some(KeyId { id: Some(vec![3]) }),
        device_index: Some(1),
        ..Default::default()
    };
    assert_eq!(
        hex(&p.encode_to_vec()),
        "0a020805220101".to_owned() + "2a010232030a01034001"
    );
    let m = SyncdMutation {
        operation: Some(syncd_mutation::SyncdOperation::Remove as i32),
        record: None,
    };
    assert_eq!(hex(&m.encode_to_vec()), "0801");
    let e = ExternalBlobReference {
        file_size_bytes: Some(9),
        direct_path: Some("/d".into()),
        ..Default::default()
    };
    assert_eq!(hex(&e.encode_to_vec()), "12022f642009");
    // Required fields are always written: syncType = 1, Conversation.id = 1, WebMessageInfo.key = 1.
    let h = HistorySync {
        sync_type: history_sync::HistorySyncType::PushName as i32,
        ..Default::default()
    };
    assert_eq!(hex(&h.encode_to_vec()), "0804");
    assert_eq!(hex(&HistorySync::default().encode_to_vec()), "0800");
    let c = Conversation {
        id: "c".into(),
        unread_count: Some(3),
        archived: Some(true),
        pinned: Some(1),
        mute_end_time: Some(2),
        ..Default::default()
    };
    assert_eq!(
        hex(&c.encode_to_vec()),
        "0a01633003".to_owned() + "8001 01c00101c80102".replace(' ', "").as_str()
    );
    let w = WebMessageInfo {
        message_timestamp: Some(1),
        push_name: Some("n".into()),
        ..Default::default()
    };
    assert_eq!(hex(&w.encode_to_vec()), "0a001801".to_owned() + "9a01016e");
    let v = SyncActionValue {
        push_name_setting: Some(PushNameSetting {
            name: Some("n".into()),
        }),
        ..Default::default()
    };
    assert_eq!(hex(&v.encode_to_vec()), "3a030a016e");
}

#[test]
fn everything_round_trips() {
    let ctx = || {
        Some(Box::new(ContextInfo {
            stanza_id: Some("3EB0QUOTED".into()),
            participant: Some("1555@s.whatsapp.net".into()),
            quoted_message: Some(Box::new(text("original"))),
            remote_jid: Some("123@g.us".into()),
            mentioned_jid: vec!["1@s.whatsapp.net".into(), "2@lid".into()],
            forwarding_score: Some(2),
            is_forwarded: Some(true),
            expiration: Some(604800),
            ephemeral_setting_timestamp: Some(1_700_000_000),
            ..Default::default()
        }))
    };
    let media = |n: u8| {
        (
            Some(vec![n; 32]),
            Some(vec![n + 1; 32]),
            Some(vec![n + 2; 32]),
        )
    };
    let (mk, fs, fe) = media(1);
    let inner = Message {
        conversation: None,
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("see https://x.y".into()),
            matched_text: Some("https://x.y".into()),
            title: Some("t".into()),
            context_info: ctx(),
            ..Default::default()
        })),
        image_message: Some(Box::new(ImageMessage {
            url: Some("https://mmg.whatsapp.net/x".into()),
            mimetype: Some("image/jpeg".into()),
            caption: Some("cap".into()),
            file_sha256: fs.clone(),
            file_length: Some(12345),
            height: Some(10),
            width: Some(20),
            media_key: mk.clone(),
            file_enc_sha256: fe.clone(),
            direct_path: Some("/v/t62".into()),
            media_key_timestamp: Some(1_700_000_000),
            jpeg_thumbnail: Some(vec![0xff, 0xd8]),
            context_info: ctx(),
            view_once: Some(false),
            ..Default::default()
        })),
        audio_message: Some(Box::new(AudioMessage {
            mimetype: Some("audio/ogg; codecs=opus".into()),
            ptt: Some(true),
            seconds: Some(7),
            waveform: Some(vec![1, 2, 3]),
            media_key: mk.clone(),
            ..Default::default()
        })),
        video_message: Some(Box::new(VideoMessage {
            gif_playback: Some(true),
            seconds: Some(3),
            streaming_sidecar: Some(vec![9]),
            ..Default::default()
        })),
        document_message: Some(Box::new(DocumentMessage {
            file_name: Some("rx.pdf".into()),
            page_count: Some(2),
            caption: Some("prescription".into()),
            ..Default::default()
        })),
        sticker_message: Some(Box::new(StickerMessage {
            is_animated: Some(true),
            png_thumbnail: Some(vec![0x89]),
            ..Default::default()
        })),
        location_message: Some(Box::new(LocationMessage {
            degrees_latitude: Some(30.0444),
            degrees_longitude: Some(31.2357),
            name: Some("Cairo".into()),
            speed_in_mps: Some(1.25),
            ..Default::default()
        })),
        live_location_message: Some(Box::new(LiveLocationMessage {
            sequence_number: Some(4),
            ..Default::default()
        })),
        contact_message: Some(Box::new(ContactMessage {
            display_name: Some("Ann".into()),
            vcard: Some("BEGIN:VCARD\nEND:VCARD".into()),
            ..Default::default()
        })),
        contacts_array_message: Some(Box::new(ContactsArrayMessage {
            display_name: Some("2 contacts".into()),
            contacts: vec![ContactMessage::default(), ContactMessage::default()],
            context_info: None,
        })),
        reaction_message: Some(ReactionMessage {
            key: Some(key()),
            text: Some("❤".into()),
            grouping_key: None,
            sender_timestamp_ms: Some(5),
        }),
        poll_creation_message: Some(Box::new(PollCreationMessage {
            name: Some("when?".into()),
            options: vec![e2e::poll_creation_message::Option {
                option_name: Some("now".into()),
                option_hash: None,
            }],
            selectable_options_count: Some(1),
            ..Default::default()
        })),
        message_context_info: Some(MessageContextInfo {
            device_list_metadata: Some(DeviceListMetadata {
                sender_key_hash: Some(vec![1; 10]),
                sender_timestamp: Some(9),
                sender_key_indexes: vec![0, 1],
                ..Default::default()
            }),
            device_list_metadata_version: Some(2),
            message_secret: Some(vec![7; 32]),
            ..Default::default()
        }),
        ..Default::default()
    };
    round_trip(&inner);
    let wrap = |m: Message| {
        Some(Box::new(FutureProofMessage {
            message: Some(Box::new(m)),
        }))
    };
    let outer = Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some("1555@s.whatsapp.net".into()),
            message: Some(Box::new(Message {
                ephemeral_message: wrap(Message {
                    view_once_message_v2: wrap(inner.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            phash: Some("2:abcdef".into()),
        })),
        edited_message: wrap(Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                key: Some(key()),
                r#type: Some(protocol_message::Type::MessageEdit as i32),
                edited_message: Some(Box::new(text("fixed"))),
                timestamp_ms: Some(1_700_000_000_123),
                ..Default::default()
            })),
            ..Default::default()
        }),
        document_with_caption_message: wrap(Message {
            document_message: inner.document_message.clone(),
            ..Default::default()
        }),
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(protocol_message::Type::AppStateSyncKeyRequest as i32),
            app_state_sync_key_request: Some(AppStateSyncKeyRequest {
                key_ids: vec![AppStateSyncKeyId {
                    key_id: Some(vec![0, 0, 0, 1]),
                }],
            }),
            history_sync_notification: Some(HistorySyncNotification {
                file_sha256: Some(vec![1; 32]),
                file_length: Some(10),
                media_key: Some(vec![2; 32]),
                file_enc_sha256: Some(vec![3; 32]),
                direct_path: Some("/hist".into()),
                sync_type: Some(HistorySyncType::InitialBootstrap as i32),
                chunk_order: Some(1),
                original_message_id: Some("M".into()),
                progress: Some(50),
                initial_hist_bootstrap_inline_payload: Some(vec![0x78, 0x9c]),
                ..Default::default()
            }),
            peer_data_operation_request_message: Some(PeerDataOperationRequestMessage {
                peer_data_operation_request_type: Some(
                    PeerDataOperationRequestType::HistorySyncOnDemand as i32,
                ),
                history_sync_on_demand_request: Some(
                    e2e::peer_data_operation_request_message::HistorySyncOnDemandRequest {
                        chat_jid: Some("1555@s.whatsapp.net".into()),
                        oldest_msg_id: Some("OLD".into()),
                        oldest_msg_from_me: Some(false),
                        on_demand_msg_count: Some(50),
                        oldest_msg_timestamp_ms: Some(1_600_000_000),
                        account_lid: None,
                    },
                ),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    round_trip(&outer);

    let data = SyncActionData {
        index: Some(br#"["archive","1555@s.whatsapp.net"]"#.to_vec()),
        value: Some(SyncActionValue {
            timestamp: Some(1),
            archive_chat_action: Some(ArchiveChatAction {
                archived: Some(true),
                message_range: Some(SyncActionMessageRange {
                    last_message_timestamp: Some(2),
                    last_system_message_timestamp: None,
                    messages: vec![SyncActionMessage {
                        key: Some(key()),
                        timestamp: Some(2),
                    }],
                }),
            }),
            contact_action: Some(ContactAction {
                full_name: Some("Ann Smith".into()),
                first_name: Some("Ann".into()),
                lid_jid: Some("9@lid".into()),
                ..Default::default()
            }),
            mark_chat_as_read_action: Some(MarkChatAsReadAction {
                read: Some(false),
                message_range: None,
            }),
            label_edit_action: Some(LabelEditAction {
                name: Some("VIP".into()),
                color: Some(3),
                ..Default::default()
            }),
            label_association_action: Some(LabelAssociationAction {
                labeled: Some(true),
            }),
            ..Default::default()
        }),
        padding: Some(vec![]),
        version: Some(3),
    };
    round_trip(&data);

    let record = SyncdRecord {
        index: Some(Default::default()),
        value: Some(Default::default()),
        key_id: Some(KeyId { id: Some(vec![1]) }),
    };
    round_trip(&SyncdSnapshot {
        version: Some(SyncdVersion { version: Some(9) }),
        records: vec![record.clone()],
        mac: Some(vec![0; 32]),
        key_id: Some(KeyId { id: Some(vec![1]) }),
    });
    round_trip(&SyncdMutations {
        mutations: vec![SyncdMutation {
            operation: Some(1),
            record: Some(record),
        }],
    });

    round_trip(&HistorySync {
        sync_type: history_sync::HistorySyncType::Recent as i32,
        conversations: vec![Conversation {
            id: "1555@s.whatsapp.net".into(),
            messages: vec![HistorySyncMsg {
                message: Some(WebMessageInfo {
                    key: key(),
                    message: Some(outer.clone()),
                    message_timestamp: Some(1_700_000_000),
                    status: Some(web_message_info::Status::Read as i32),
                    participant: Some("p".into()),
                    push_name: Some("Ann".into()),
                    message_stub_type: Some(web_message_info::StubType::Revoke as i32),
                    message_stub_parameters: vec!["x".into()],
                    labels: vec!["1".into()],
                    ..Default::default()
                }),
                msg_order_id: Some(3),
            }],
            unread_count: Some(1),
            name: Some("Ann".into()),
            archived: Some(false),
            pinned: Some(0),
            mute_end_time: Some(0),
            lid_jid: Some("9@lid".into()),
            pn_jid: Some("1555@s.whatsapp.net".into()),
            ..Default::default()
        }],
        status_v3_messages: vec![WebMessageInfo::default()],
        chunk_order: Some(2),
        progress: Some(80),
        pushnames: vec![Pushname {
            id: Some("1555@s.whatsapp.net".into()),
            pushname: Some("Ann".into()),
        }],
        phone_number_to_lid_mappings: vec![PhoneNumberToLidMapping {
            pn_jid: Some("1555@s.whatsapp.net".into()),
            lid_jid: Some("9@lid".into()),
        }],
        nct_salt: Some(vec![1, 2]),
        ..Default::default()
    });
}

#[test]
fn unknown_fields_and_enum_values_still_decode() {
    // A field we do not model (Message.call = 10) is skipped; an unknown
    // ProtocolMessage type is kept as its number.
    let mut bytes = vec![0x52, 0x00]; // field 10, empty
    bytes.extend(text("hi").encode_to_vec());
    assert_eq!(Message::decode(bytes.as_slice()).unwrap(), text("hi"));
    let p = ProtocolMessage::decode(&[0x10, 0x63][..]).unwrap();
    assert_eq!(p.r#type, Some(99));
    assert!(protocol_message::Type::try_from(99).is_err());
}

/// inbound-stanzas: the poll-vote fields (whatsmeow proto/waE2E/WAWebProtobufsE2E.proto):
/// PollVoteMessage.selectedOptions = 1, PollEncValue.encPayload = 1 / encIV = 2,
/// PollUpdateMessage.pollCreationMessageKey = 1 / vote = 2, Message.pollUpdateMessage = 50,
/// MessageContextInfo.messageSecret = 3.
#[test]
fn poll_vote_wire_bytes() {
    let vote = e2e::PollVoteMessage {
        selected_options: vec![vec![0xaa], vec![0xbb, 0xcc]],
    };
    assert_eq!(hex(&vote.encode_to_vec()), "0a01aa0a02bbcc");
    let update = Message {
        poll_update_message: Some(e2e::PollUpdateMessage {
            poll_creation_message_key: Some(MessageKey {
                id: Some("P".into()),
                ..Default::default()
            }),
            vote: Some(e2e::PollEncValue {
                enc_payload: Some(vec![1]),
                enc_iv: Some(vec![2]),
            }),
            ..Default::default()
        }),
        message_context_info: Some(MessageContextInfo {
            message_secret: Some(vec![7]),
            ..Default::default()
        }),
        ..Default::default()
    };
    // 35 -> tag 0x9a 0x02; 50 -> tag 0x92 0x03.
    assert_eq!(
        hex(&update.encode_to_vec()),
        "9a0203".to_owned() + "1a0107" + "92030d" + "0a031a0150" + "1206" + "0a0101" + "120102"
    );
    round_trip(&update);
}
