//! Greeting, out-of-office per branch hours and holidays in Cairo time (with summer time),
//! keyword triggers.

use crate::support::*;
use pharmacy_service::db;
use pharmacy_service::domain::autoreply::MatchKind;
use pharmacy_service::domain::time::Timestamp;

fn at(utc: &str) -> Timestamp {
    Timestamp(utc.parse::<jiff::Timestamp>().unwrap().as_millisecond())
}

async fn ooo_count(w: &World) -> i64 {
    w.count("SELECT count(*) FROM messages WHERE body LIKE 'Closed now%'")
        .await
}

#[tokio::test]
async fn greeting_once_per_new_conversation() {
    let w = World::new().await;
    w.text("201001234567", "G1", "hi").await;
    w.text("201001234567", "G2", "hello?").await;
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body = 'Welcome Mona'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE is_system = 1")
            .await,
        1
    );
}

#[tokio::test]
async fn out_of_office_follows_branch_hours_in_cairo_time_with_summer_time() {
    let w = World::new().await;
    // Talkha opens 09:00-17:00 Cairo time.
    w.clock.set(at("2026-07-15T14:30:00Z")); // 17:30 in Cairo summer time (UTC+3): closed
    let t = w.text("201001234567", "O1", "hi").await;
    w.set_home(t, w.branches[2]).await;
    w.text("201001234567", "O2", "anyone?").await;
    assert_eq!(ooo_count(&w).await, 1, "home branch now known and closed");
    w.text("201001234567", "O3", "hello??").await;
    assert_eq!(ooo_count(&w).await, 1, "once per conversation per day");
    w.clock.set(at("2026-07-16T15:00:00Z")); // next day 18:00: closed again
    w.text("201001234567", "O4", "today?").await;
    assert_eq!(ooo_count(&w).await, 2);

    let w = World::new().await;
    w.clock.set(at("2026-01-15T14:30:00Z")); // 16:30 in Cairo winter time (UTC+2): open
    let t = w.text("201001234567", "P1", "hi").await;
    w.set_home(t, w.branches[2]).await;
    w.text("201001234567", "P2", "anyone?").await;
    assert_eq!(ooo_count(&w).await, 0);
}

#[tokio::test]
async fn holidays_close_even_a_24_hour_branch() {
    let w = World::new().await;
    let mut c = w.app.pool().acquire().await.unwrap();
    db::branches::add_holiday(
        &mut c,
        None,
        jiff::civil::date(2026, 11, 25),
        "test holiday",
    )
    .await
    .unwrap();
    drop(c);
    let t = w.text("201001234567", "H1", "hi").await;
    w.set_home(t, w.branches[1]).await;
    w.text("201001234567", "H2", "open?").await;
    assert_eq!(ooo_count(&w).await, 1);
}

#[tokio::test]
async fn keyword_triggers_answer_once_per_day() {
    let w = World::new().await;
    let mut c = w.app.pool().acquire().await.unwrap();
    db::templates::add_trigger(
        &mut c,
        "مواعيد العمل",
        MatchKind::Contains,
        "نعمل يومياً {branch_hours}",
        None,
        T0,
    )
    .await
    .unwrap();
    drop(c);
    let t = w.text("201001234567", "K1", "ما هي مَواعيد العمل؟").await;
    w.text("201001234567", "K2", "مواعيد العمل لو سمحت").await;
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body LIKE 'نعمل يومياً%'")
            .await,
        1
    );
    let _ = t;
}

#[tokio::test]
async fn the_welcome_menu_chooses_the_branch() {
    let w = World::new().await;
    let mut c = w.app.pool().acquire().await.unwrap();
    db::templates::upsert(
        &mut c,
        None,
        "branch_menu",
        "menu",
        "Choose:\n{branch_menu}",
        true,
        T0,
    )
    .await
    .unwrap();
    drop(c);
    w.online(0).await;
    w.online(2).await;
    let t = w.text("201001234567", "BM1", "hi").await;
    assert_eq!(
        w.ticket(t).await.agent_id,
        Some(w.agents[0]),
        "served at once by whoever is online"
    );
    let menu: String = sqlx::query_scalar("SELECT body FROM messages WHERE body LIKE 'Choose:%'")
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(
        menu,
        "Choose:\n1. خليفة toriel / Khalifa toriel\n2. خليفة gomhoreya / Khalifa gomhoreya\n3. خليفة talkha / Khalifa talkha"
    );
    // "٢" = 2 in Arabic-Indic digits: Gomhoreya.
    w.text("201001234567", "BM2", "٢").await;
    let tk = w.ticket(t).await;
    assert_eq!(
        (tk.agent_id, tk.branch_id),
        (Some(w.agents[2]), Some(w.branches[1]))
    );
    assert_eq!(
        w.count("SELECT home_branch_id FROM customers").await,
        w.branches[1].0
    );
    assert_eq!(
        w.count("SELECT count(*) FROM ticket_transfer_log WHERE kind = 'menu'")
            .await,
        1
    );
    // A returning customer with a home branch gets no menu.
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body LIKE 'Choose:%'")
            .await,
        1
    );
}

#[tokio::test]
async fn at_night_the_out_of_office_reply_is_the_greeting() {
    let w = World::new().await;
    let mut c = w.app.pool().acquire().await.unwrap();
    // Close the 24-hour branch for the test: every branch 09:00-17:00.
    for b in db::branches::list(&mut c).await.unwrap() {
        let nb = db::branches::NewBranch {
            code: b.code,
            name: b.name,
            name_ar: b.name_ar,
            address: b.address,
            phone: None,
            latitude: b.latitude,
            longitude: b.longitude,
            hours: pharmacy_service::domain::schedule::WeeklyHours::every_day(&[
                pharmacy_service::domain::schedule::Span::hm(9, 0, 17, 0),
            ]),
        };
        db::branches::upsert(&mut c, &nb, T0).await.unwrap();
    }
    drop(c);
    w.clock.set(at("2026-11-25T21:00:00Z")); // 23:00 in Cairo
    w.text("201001234567", "N1", "مساء الخير").await;
    assert_eq!(ooo_count(&w).await, 1);
    assert_eq!(
        w.count("SELECT count(*) FROM messages WHERE body = 'Welcome Mona'")
            .await,
        0
    );
}
