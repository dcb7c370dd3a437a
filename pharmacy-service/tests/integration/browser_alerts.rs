//! The WhatsApp banner in a real browser (issue 29): an agent's inbox shows it within seconds
//! when the simulated server drops the link or bans the number, a page opened during the
//! outage shows it at once, and it clears when the link returns.

use super::browser::{BROWSER, Browser};
use super::support::TempDir;
use pharmacy_service::http::{LinkState, WhatsappLink};
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

const BANNER_HIDDEN: &str = "document.getElementById('wa-banner').hidden";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_the_link_banner_while_the_sim_drops_the_link() {
    use pharmacy_service::demo::DemoOptions;
    use whatsapp_sim::Fault;
    let _one = BROWSER.lock().await;
    let dir = TempDir::new();
    let demo = pharmacy_service::demo::start(DemoOptions {
        port: 0,
        data_dir: dir.0.clone(),
        manual_pair: false,
        pair_after: Duration::from_millis(100),
        traffic: false,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    while demo.bridge.status().await.unwrap().state != LinkState::Connected {
        assert!(Instant::now() < deadline, "the demo pairs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut b = Browser::start("alerts-banner", "ar").await;
    let (user, pass, _) = demo.credentials.agents[0].clone();
    b.login(&demo.url, &user, &pass).await;
    b.until(
        "the live inbox without a banner",
        &format!(
            "document.getElementById('conn-state').dataset.state === 'live' && {BANNER_HIDDEN}"
        ),
    )
    .await;
    // Every time the banner shows, its text is recorded (the client reconnects within about
    // a second after a plain drop, so a poll could miss it).
    b.js("window.bannerSeen = []; const el = document.getElementById('wa-banner'); \
          new MutationObserver(() => { if (!el.hidden) window.bannerSeen.push(el.textContent); }) \
          .observe(el, { attributes: true, childList: true, subtree: true, characterData: true }); return true;")
        .await;

    demo.sim.fault(&Fault::DropConnections).unwrap();
    b.until("the banner shown", "window.bannerSeen.length > 0")
        .await;
    let seen = b.js("return window.bannerSeen").await;
    assert!(
        seen.as_array().unwrap().iter().any(|t| t
            .as_str()
            .unwrap()
            .contains("واتساب غير متصل: الردود في قائمة الانتظار")),
        "{seen}"
    );
    b.until("the banner cleared after the reconnect", BANNER_HIDDEN)
        .await;

    // A ban keeps the link down for seconds: the banner says so, and a page opened meanwhile
    // shows it at once (the socket's first frame carries the state).
    demo.sim
        .fault(&Fault::TempBan {
            code: 101,
            expire_s: 8,
        })
        .unwrap();
    b.until(
        "the ban banner",
        "document.getElementById('wa-banner').dataset.state === 'temporary_ban'",
    )
    .await;
    b.client.refresh().await.unwrap();
    b.until(
        "the banner on a page opened during the outage",
        "!document.getElementById('wa-banner').hidden && document.getElementById('wa-banner-text').textContent.includes('حظر واتساب الرقم مؤقتًا')",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('wa-banner').getAttribute('role')")
            .await,
        Value::from("alert")
    );
    b.shot("banned").await;
    b.axe("the inbox with the link banner").await;
    b.until("the banner cleared when the ban ended", BANNER_HIDDEN)
        .await;
    b.shot("back").await;
    assert_eq!(
        demo.bridge.status().await.unwrap().state,
        LinkState::Connected
    );
    b.close().await;
    demo.shutdown().await;
}
