//! Conversation labels in a real browser (issue 30 item 2): an agent puts a label on the open
//! conversation from the chat header, the inbox row shows it, and the label filter narrows the
//! list to the conversations that carry it.

use super::browser::{BROWSER, Browser, Service};
use pharmacy_service::app::{InboundContent, TransferTarget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_labels_a_conversation_and_filters_the_inbox_by_label() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (user, pass, _) = svc.creds.agents[0].clone();
    let agent = svc.agent_id(&user).await;
    let admin = svc.user_id(&svc.creds.admin.0).await;
    let text = |t: &str| InboundContent::Text { text: t.into() };
    let (delivery, _) = svc
        .customer_sends("201001230401", "WA-L-1", text("عايز توصيل للبيت"), None)
        .await;
    let (other, _) = svc
        .customer_sends("201001230402", "WA-L-2", text("بكام البنادول؟"), None)
        .await;
    for t in [delivery, other] {
        svc.app
            .transfer_ticket(t, admin, TransferTarget::Agent(agent), "اختبار")
            .await
            .unwrap();
    }
    let label = svc
        .app
        .labels(false)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "توصيل")
        .expect("the seeded delivery label")
        .id;

    let mut b = Browser::start("labels", "ar").await;
    b.login(&svc.base, &user, &pass).await;
    let row =
        |t: pharmacy_service::domain::ids::TicketId| format!("#ticket-list [data-ticket='{t}']");
    b.until(
        "both rows",
        &format!(
            "!!document.querySelector(\"{}\") && !!document.querySelector(\"{}\")",
            row(delivery),
            row(other)
        ),
    )
    .await;
    b.click(&row(delivery)).await;
    b.until("the label picker", "!!document.getElementById('label-add')")
        .await;
    b.js(&format!(
        "const s = document.getElementById('label-add'); s.value = '{label}'; \
         s.dispatchEvent(new Event('change')); return true;"
    ))
    .await;
    b.until(
        "the chip in the chat header",
        &format!("!!document.querySelector('#chat-labels [data-label=\"{label}\"]')"),
    )
    .await;
    b.until(
        "the chip on the inbox row",
        &format!(
            "!!document.querySelector(\"{} [data-label='{label}']\")",
            row(delivery)
        ),
    )
    .await;
    b.shot("labelled").await;

    // The filter: only the labelled conversation is left; back to all, both are.
    b.js(&format!(
        "const s = document.getElementById('label-filter'); s.value = '{label}'; \
         s.dispatchEvent(new Event('change')); return true;"
    ))
    .await;
    b.until(
        "the list narrowed to the label",
        &format!(
            "document.querySelectorAll('#ticket-list [data-ticket]').length === 1 && !!document.querySelector(\"{}\")",
            row(delivery)
        ),
    )
    .await;
    b.shot("filtered").await;
    b.axe("the inbox filtered by label").await;
    b.js(
        "const s = document.getElementById('label-filter'); s.value = ''; \
         s.dispatchEvent(new Event('change')); return true;",
    )
    .await;
    b.until(
        "both rows again",
        &format!("!!document.querySelector(\"{}\")", row(other)),
    )
    .await;

    // Taken off from the chip's button, as the server confirms.
    b.click(&format!("#chat-labels [data-label='{label}'] .chip-x"))
        .await;
    b.until(
        "the chip gone",
        &format!("!document.querySelector('#chat-labels [data-label=\"{label}\"]')"),
    )
    .await;
    assert!(
        svc.app
            .labels(false)
            .await
            .unwrap()
            .iter()
            .any(|l| l.id == label),
        "the label itself stays"
    );
    assert_eq!(b.contract_violations().await, Vec::<String>::new());
    b.close().await;
}
