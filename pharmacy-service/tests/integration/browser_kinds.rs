//! One ticket holding every message kind, opened in the browser: each kind is rendered as
//! one element with its `data-kind` and its marker text, in Arabic and English, and the page
//! stays accessible (axe-core). Screenshots are kept under `target/screenshots/`.

use super::browser::{BROWSER, Browser, Service};
use pharmacy_service::app::{ContactCardIn, InboundContent, InboundEvent, Sender, TransferTarget};
use pharmacy_service::domain::ids::TicketId;
use pharmacy_service::domain::message::{CallOutcome, MessageKind, poll_option_hash};

const PHONE: &str = "201001234567";

fn customer() -> Sender {
    Sender {
        phone: Some(PHONE.into()),
        ..Default::default()
    }
}

/// Every kind, as the bridge hands them over; returns the ticket.
async fn every_kind(svc: &Service) -> TicketId {
    let (ticket, _) = svc
        .customer_sends(
            PHONE,
            "K-TEXT",
            InboundContent::Text {
                text: "علبتين من فضلك".into(),
            },
            None,
        )
        .await;
    let app = &svc.app;
    app.handle_inbound(InboundEvent::Edited {
        from: customer(),
        wa_id: "K-TEXT".into(),
        text: "ثلاث علب من فضلك".into(),
        at: app.now(),
    })
    .await
    .unwrap();
    let clip = app
        .store_media(b"pretend round video", "video/mp4")
        .await
        .unwrap();
    let pdf = app
        .store_media(b"%PDF-1.4\n%%EOF\n", "application/pdf")
        .await
        .unwrap();
    let contents = [
        (
            "K-PTV",
            InboundContent::Media {
                media_kind: MessageKind::Ptv,
                sha256: clip,
                mime: "video/mp4".into(),
                file_name: None,
                caption: None,
            },
        ),
        (
            "K-DOC",
            InboundContent::Media {
                media_kind: MessageKind::Document,
                sha256: pdf,
                mime: "application/pdf".into(),
                file_name: Some("rx-march.pdf".into()),
                caption: Some("روشتة الشهر".into()),
            },
        ),
        (
            "K-LIVE",
            InboundContent::LiveLocation {
                latitude: 30.0444,
                longitude: 31.2357,
                caption: Some("في الطريق".into()),
                sequence: Some(1),
            },
        ),
        (
            "K-LIVE-2",
            InboundContent::LiveLocation {
                latitude: 30.0501,
                longitude: 31.2402,
                caption: None,
                sequence: Some(2),
            },
        ),
        (
            "K-POLL",
            InboundContent::Poll {
                question: "توصيل أم استلام؟".into(),
                options: vec!["توصيل".into(), "استلام".into()],
                selectable: 1,
            },
        ),
        (
            "K-CONTACTS",
            InboundContent::Contacts {
                cards: vec![
                    ContactCardIn {
                        display_name: Some("د. هاني".into()),
                        vcard: Some("BEGIN:VCARD\nFN:د. هاني\nTEL;waid=201001112223:+20 100 111 2223\nEND:VCARD".into()),
                    },
                    ContactCardIn {
                        display_name: Some("Nurse Mona".into()),
                        vcard: Some("BEGIN:VCARD\nFN:Mona\nTEL:+201004445556\nEND:VCARD".into()),
                    },
                ],
            },
        ),
        (
            "K-BUTTON",
            InboundContent::Reply {
                reply_kind: MessageKind::ButtonReply,
                id: Some("deliver".into()),
                text: Some("وصّلها للبيت".into()),
                detail: None,
            },
        ),
        (
            "K-LIST",
            InboundContent::Reply {
                reply_kind: MessageKind::ListReply,
                id: Some("branch-3".into()),
                text: Some("فرع المعادي".into()),
                detail: Some("شارع ٩".into()),
            },
        ),
        ("K-VIEW-ONCE", InboundContent::ViewOnce),
        (
            "K-ODD",
            InboundContent::Unsupported {
                what: "eventMessage".into(),
            },
        ),
        (
            "call:K-CALL:missed",
            InboundContent::Call {
                outcome: CallOutcome::Missed,
                video: false,
            },
        ),
    ];
    for (wa_id, content) in contents {
        svc.customer_event(PHONE, wa_id, content, None).await;
    }
    app.handle_inbound(InboundEvent::PollVote {
        from: customer(),
        wa_id: "K-VOTE".into(),
        poll_wa_id: "K-POLL".into(),
        selected: vec![poll_option_hash("استلام")],
        at: app.now(),
    })
    .await
    .unwrap();
    ticket
}

/// Each kind's element and the text it must show (Arabic, then English).
const EXPECTED: &[(&str, &str, &str)] = &[
    ("text", "ثلاث علب من فضلك", "ثلاث علب من فضلك"),
    ("ptv", "رسالة فيديو", "Video note"),
    ("document", "روشتة الشهر", "rx-march.pdf"),
    ("live_location", "آخر تحديث", "Updated at"),
    ("poll", "توصيل أم استلام؟", "Votes from 1 people"),
    ("contact", "Nurse Mona", "+20 100 111 2223"),
    ("button_reply", "أجاب بزر", "Answered with a button"),
    ("list_reply", "branch-3", "Chose from a list"),
    ("view_once", "عرض لمرة واحدة", "view-once"),
    ("unsupported", "eventMessage", "cannot show yet"),
    ("call", "مكالمة صوتية فائتة", "Missed voice call"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ticket_shows_every_message_kind() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let ticket = every_kind(&svc).await;
    let (user, password, _) = svc.creds.agents[0].clone();
    let agent = svc.agent_id(&user).await;
    let admin = svc.user_id(&svc.creds.admin.0).await;
    svc.app
        .transfer_ticket(ticket, admin, TransferTarget::Agent(agent), "kinds")
        .await
        .unwrap();
    let mut b = Browser::start("kinds", "ar").await;
    b.login(&svc.base, &user, &password).await;
    b.until("the inbox", "!document.getElementById('view-app').hidden")
        .await;
    let item = format!("#ticket-list [data-ticket='{ticket}']");
    b.until("the ticket", &format!("document.querySelector(\"{item}\")"))
        .await;
    b.click(&item).await;
    b.until(
        "the chat",
        "document.querySelector('#message-list li[data-kind=unsupported]')",
    )
    .await;
    for lang in ["ar", "en"] {
        if lang == "en" {
            b.js("[...document.querySelectorAll('.lang-toggle')].find(e => e.offsetParent).click(); return 1")
                .await;
            b.until("English", "document.documentElement.lang === 'en'")
                .await;
        }
        for (kind, ar, en) in EXPECTED {
            let marker = if lang == "ar" { ar } else { en };
            let found = b
                .js(&format!(
                    "const els = document.querySelectorAll('#message-list li.in[data-kind={kind}]');
                     return [els.length, els.length ? els[0].textContent : ''];"
                ))
                .await;
            assert_eq!(found[0], 1, "{lang}: one {kind} element");
            assert!(
                found[1].as_str().unwrap_or_default().contains(marker),
                "{lang}: {kind} shows {marker:?}: {}",
                found[1]
            );
        }
        // The poll's tally: the vote counted on its option.
        let votes = b
            .js("return [...document.querySelectorAll('li[data-kind=poll] .poll-votes')].map(e => e.textContent)")
            .await;
        assert_eq!(votes, serde_json::json!(["0", "1"]));
        // Contact cards: a copy button and a tel: link per number.
        let calls = b
            .js("return [...document.querySelectorAll('li[data-kind=contact] a[href^=\"tel:\"]')].map(a => a.getAttribute('href'))")
            .await;
        assert_eq!(
            calls,
            serde_json::json!(["tel:+201001112223", "tel:+201004445556"])
        );
        assert_eq!(
            b.js("return document.querySelectorAll('li[data-kind=contact] .contact-phone button').length")
                .await,
            2
        );
        // The round video note is circular; the edit history expands.
        assert_eq!(
            b.js("return getComputedStyle(document.querySelector('li[data-kind=ptv] .ptv video')).borderRadius").await,
            "50%"
        );
        b.js(
            "document.querySelector('li[data-kind=text] details.edits summary').click(); return 1",
        )
        .await;
        b.until(
            "the edit history",
            "document.querySelector('li[data-kind=text] details.edits[open] li')?.textContent.includes('علبتين من فضلك')",
        )
        .await;
        // The whole ticket for review, a few messages per screenshot.
        for kind in ["text", "live_location", "contact", "unsupported"] {
            b.js(&format!(
                "document.querySelector('#message-list li.in[data-kind={kind}]').scrollIntoView({{block: 'start'}}); return 1"
            ))
            .await;
            b.shot(&format!("every-kind-{lang}-from-{kind}")).await;
        }
        b.axe(&format!("a ticket with every message kind ({lang})"))
            .await;
    }
    b.close().await;
}
