//! The switch-over import (issue 13) against a Django database built here from the models the
//! seed documents: a few hundred rows with Arabic text, duplicate customers, a duplicated
//! WhatsApp message, a missing media file, rows that cannot be mapped, and users with real
//! Django pbkdf2_sha256 password hashes.

use crate::support::*;
use base64::Engine;
use hmac::{Hmac, Mac};
use pharmacy_service::app::{App, KpiQuery, ManualClock, SeedOptions};
use pharmacy_service::db;
use pharmacy_service::domain::ids::CustomerId;
use pharmacy_service::domain::search::fts_query;
use pharmacy_service::import::{ImportOptions, ImportReport, run};
use sha2::Sha256;
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The old password of Django user `agent1` (Arabic and Latin, as pharmacists type them).
const OLD_PASSWORD: &str = "صيدلية-خليفة-2024";
const AGENTS: i64 = 5;
const CUSTOMERS: i64 = 60;

/// PBKDF2-HMAC-SHA256 written out here, independent of the service's verifier, producing what
/// Django's `make_password` stores.
fn django_hash(password: &str, salt: &str, iterations: u32) -> String {
    let prf = Hmac::<Sha256>::new_from_slice(password.as_bytes()).unwrap();
    let mut block = salt.as_bytes().to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = {
        let mut m = prf.clone();
        m.update(&block);
        m.finalize().into_bytes().to_vec()
    };
    let mut t = u.clone();
    for _ in 1..iterations {
        let mut m = prf.clone();
        m.update(&u);
        u = m.finalize().into_bytes().to_vec();
        t.iter_mut().zip(&u).for_each(|(a, b)| *a ^= b);
    }
    format!(
        "pbkdf2_sha256${iterations}${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(t)
    )
}

/// Naive UTC text as Django's SQLite backend stores it (`USE_TZ = True`): minutes after
/// 2025-09-01 08:00.
fn dt(minutes: i64) -> String {
    let base = jiff::civil::datetime(2025, 9, 1, 8, 0, 0, 0);
    let t = base
        .checked_add(jiff::Span::new().minutes(minutes))
        .unwrap();
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

const DDL: &str = r#"
CREATE TABLE auth_user (id INTEGER PRIMARY KEY AUTOINCREMENT, password VARCHAR(128) NOT NULL, last_login DATETIME NULL,
    is_superuser BOOL NOT NULL, username VARCHAR(150) NOT NULL UNIQUE, first_name VARCHAR(150) NOT NULL,
    last_name VARCHAR(150) NOT NULL, email VARCHAR(254) NOT NULL, is_staff BOOL NOT NULL, is_active BOOL NOT NULL,
    date_joined DATETIME NOT NULL);
CREATE TABLE conversations_agent (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL UNIQUE REFERENCES auth_user (id),
    branch VARCHAR(100) NOT NULL, is_online BOOL NOT NULL, response_time REAL NOT NULL, rating REAL NOT NULL);
CREATE TABLE conversations_admin (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL UNIQUE REFERENCES auth_user (id),
    department VARCHAR(100) NOT NULL, permissions TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_customer (id INTEGER PRIMARY KEY AUTOINCREMENT, phone VARCHAR(20) NOT NULL, name VARCHAR(200) NOT NULL,
    email VARCHAR(254) NULL, tags TEXT NOT NULL, satisfaction REAL NULL, source VARCHAR(50) NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_customertag (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, tag_name VARCHAR(50) NOT NULL,
    created_at DATETIME NOT NULL);
CREATE TABLE conversations_customernote (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, agent_id INTEGER NULL,
    note_content TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_ticket (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, agent_id INTEGER NULL,
    status VARCHAR(20) NOT NULL, priority VARCHAR(20) NOT NULL, created_at DATETIME NOT NULL, closed_at DATETIME NULL);
CREATE TABLE conversations_tickettransferlog (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, from_agent_id INTEGER NULL,
    to_agent_id INTEGER NULL, transferred_by_id INTEGER NULL, reason TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_ticketstatelog (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, old_status VARCHAR(20) NULL,
    new_status VARCHAR(20) NOT NULL, changed_by_id INTEGER NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_message (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, sender VARCHAR(20) NOT NULL,
    content TEXT NOT NULL, message_type VARCHAR(20) NOT NULL, created_at DATETIME NOT NULL, status VARCHAR(20) NOT NULL,
    media_file VARCHAR(100) NULL, whatsapp_message_id VARCHAR(100) NULL);
CREATE TABLE conversations_messagedeliverylog (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL, status VARCHAR(20) NOT NULL,
    timestamp DATETIME NOT NULL);
CREATE TABLE conversations_messagesearchindex (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER NOT NULL, search_text TEXT NOT NULL);
CREATE TABLE conversations_globaltemplate (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(100) NOT NULL, content TEXT NOT NULL,
    is_active BOOL NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_agenttemplate (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER NOT NULL, name VARCHAR(100) NOT NULL,
    content TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_autoreplytrigger (id INTEGER PRIMARY KEY AUTOINCREMENT, keyword VARCHAR(100) NOT NULL, response TEXT NOT NULL,
    match_type VARCHAR(20) NOT NULL, is_active BOOL NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_responsetimetracking (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, agent_id INTEGER NOT NULL,
    customer_message_time DATETIME NOT NULL, agent_response_time DATETIME NOT NULL, response_time_seconds REAL NOT NULL,
    is_first_response BOOL NOT NULL);
CREATE TABLE conversations_agentdelayevent (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER NOT NULL, ticket_id INTEGER NOT NULL,
    delay_seconds INTEGER NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_agentkpi (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER NOT NULL, messages_sent INTEGER NOT NULL,
    response_time REAL NOT NULL, satisfaction REAL NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_agentkpimonthly (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER NOT NULL, year INTEGER NOT NULL,
    month INTEGER NOT NULL, messages_sent INTEGER NOT NULL, avg_response_time REAL NOT NULL, satisfaction REAL NOT NULL,
    tickets_closed INTEGER NOT NULL);
CREATE TABLE conversations_customersatisfaction (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, ticket_id INTEGER NULL,
    agent_id INTEGER NULL, rating INTEGER NOT NULL, comment TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE conversations_activitylog (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NULL, action VARCHAR(100) NOT NULL,
    timestamp DATETIME NOT NULL, details TEXT NOT NULL);
CREATE TABLE conversations_loginattempt (id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(150) NOT NULL, ip_address VARCHAR(39) NULL,
    success BOOL NOT NULL, timestamp DATETIME NOT NULL);
"#;

const NAMES: &[&str] = &[
    "أحمد محمد",
    "فاطمة الزهراء",
    "محمود عبد الله",
    "منى إبراهيم",
    "يوسف السيد",
    "هدى مصطفى",
    "عمر خالد",
    "سارة حسن",
    "Mohamed Ali",
    "نورهان عادل",
];
const ASKS: &[&str] = &[
    "عندكم بنادول اكسترا؟",
    "محتاج دواء الضغط كونكور ٥ مجم",
    "هل الصيدلية مفتوحة دلوقتي؟",
    "عايز أطلب توصيل للبيت من فضلك",
    "Do you have Augmentin 1g?",
    "سعر الأنسولين كام؟",
];
const REPLIES: &[&str] = &[
    "أهلاً بحضرتك، متوفر والسعر ٤٥ جنيه",
    "تمام يا فندم، الطلب هيوصل خلال ساعة",
    "الصيدلية مفتوحة ٢٤ ساعة",
    "Yes, available at the branch",
];

/// Builds the Django database and its media directory; returns the bytes of the one media file
/// that exists.
async fn build_fixture(db: &Path, media: &Path) -> Vec<u8> {
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    c.execute(DDL).await.unwrap();
    let mut tx = c.begin().await.unwrap();
    // Users: a superuser who also exists in the service ("admin"), a manager, five agents,
    // and a user whose password Django marked unusable.
    let mut users = vec![
        (
            "admin".to_owned(),
            django_hash("old-admin-pass", "adminsalt", 1000),
            1,
            1,
        ),
        (
            "manager".to_owned(),
            django_hash("مدير-2024", "mgrsalt99", 1000),
            1,
            1,
        ),
    ];
    for i in 1..=AGENTS {
        let pw = if i == 1 {
            OLD_PASSWORD.to_owned()
        } else {
            format!("agent-{i}-pass")
        };
        users.push((
            format!("agent{i}"),
            django_hash(&pw, &format!("salt{i}x"), 1000),
            0,
            0,
        ));
    }
    users.push(("former".into(), "!Xk3unusablepassword".into(), 0, 0));
    for (i, (name, hash, su, staff)) in users.iter().enumerate() {
        sqlx::query("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)")
        .bind(hash)
        .bind(su)
        .bind(name)
        .bind(if i >= 2 { "صيدلي" } else { "" })
        .bind(format!("{i}"))
        .bind(format!("{name}@khalifa.example"))
        .bind(staff)
        .bind(dt(-10_000 + i as i64))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO conversations_admin (user_id, department, permissions, created_at) VALUES (2, 'operations', 'all', ?)")
        .bind(dt(-9000))
        .execute(&mut *tx)
        .await
        .unwrap();
    // Agents 1..5 are users 3..7; the last branch name matches no service branch.
    let branches = ["Toriel", "فرع الجيش", "Talkha", "Gomhoreya", "Mit Ghamr"];
    for i in 1..=AGENTS {
        sqlx::query("INSERT INTO conversations_agent (user_id, branch, is_online, response_time, rating) VALUES (?, ?, 0, 60.0, 4.5)")
            .bind(i + 2)
            .bind(branches[(i - 1) as usize])
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Customers: 60 people, then two rows repeating customers 1 and 2 in other spellings, then
    // one whose number is not a phone number.
    for i in 1..=CUSTOMERS {
        let national = format!("10{:08}", 1_000_000 + i);
        let phone = match i % 3 {
            0 => format!("0{national}"),
            1 => format!("+20 {national}"),
            _ => format!("20{national}"),
        };
        let tags = match i % 4 {
            0 => "vip، مزمن",
            1 => "توصيل",
            _ => "",
        };
        sqlx::query("INSERT INTO conversations_customer (phone, name, email, tags, satisfaction, source, created_at) VALUES (?, ?, ?, ?, NULL, 'whatsapp', ?)")
            .bind(phone)
            .bind(format!("{} {i}", NAMES[(i % 10) as usize]))
            .bind((i % 5 == 0).then(|| format!("c{i}@mail.example")))
            .bind(tags)
            .bind(dt(i))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for (phone, name) in [
        ("0020 100 1000 001", "أحمد (رقم مكرر)"),
        ("010-0100-0002", "Duplicate two"),
        ("12345", "رقم خطأ"),
    ] {
        sqlx::query("INSERT INTO conversations_customer (phone, name, email, tags, satisfaction, source, created_at) VALUES (?, ?, NULL, 'مكرر', NULL, 'whatsapp', ?)")
            .bind(phone)
            .bind(name)
            .bind(dt(500))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Tag rows, some repeating the tags text.
    for i in 1..=40 {
        sqlx::query("INSERT INTO conversations_customertag (customer_id, tag_name, created_at) VALUES (?, ?, ?)")
            .bind(i)
            .bind(if i % 4 == 0 { "vip" } else { "سكر" })
            .bind(dt(600 + i))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Notes (one on the customer that cannot be imported).
    for i in 1..=50 {
        sqlx::query("INSERT INTO conversations_customernote (customer_id, agent_id, note_content, created_at) VALUES (?, ?, ?, ?)")
            .bind(if i == 50 { 63 } else { i })
            .bind(i % AGENTS + 1)
            .bind(format!("العميل يفضل التوصيل مساءً — ملاحظة {i}"))
            .bind(dt(700 + i))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Tickets: two per customer (the first closed, the second open for every 5th customer),
    // an open one on each duplicate row, one on the bad-number customer, one with a status
    // the service does not know.
    let mut ticket = 0i64;
    let mut msg = 0i64;
    let mut wa = 0;
    let mut media_bytes = Vec::new();
    let mut tickets: Vec<(i64, i64, Option<i64>, bool, i64)> = Vec::new(); // (id, customer, agent, closed, start)
    for round in 0..2 {
        for cust in 1..=CUSTOMERS + 3 {
            if round == 1 && cust > CUSTOMERS {
                continue;
            }
            let agent = if cust % 7 == 0 {
                None
            } else {
                Some(cust % AGENTS + 1)
            };
            // Customers 1 and 2 have an open ticket, and so do their duplicates 61 and 62.
            let open = (round == 1 && (cust % 5 == 0 || cust <= 2))
                || (CUSTOMERS + 1..=CUSTOMERS + 2).contains(&cust);
            let start = 1_000 + round * 20_000 + cust * 97;
            // Customer 42 has no agent (42 % 7 == 0): the unmappable tickets carry no KPIs.
            let status = if cust == 42 && round == 1 {
                "escalated"
            } else if open {
                "open"
            } else {
                "closed"
            };
            ticket += 1;
            sqlx::query("INSERT INTO conversations_ticket (customer_id, agent_id, status, priority, created_at, closed_at) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(cust)
                .bind(agent)
                .bind(status)
                .bind(["low", "medium", "high", "urgent"][(cust % 4) as usize])
                .bind(dt(start))
                .bind((!open).then(|| dt(start + 180)))
                .execute(&mut *tx)
                .await
                .unwrap();
            tickets.push((ticket, cust, agent, !open, start));
            sqlx::query("INSERT INTO conversations_ticketstatelog (ticket_id, old_status, new_status, changed_by_id, created_at) VALUES (?, NULL, 'open', NULL, ?)")
                .bind(ticket)
                .bind(dt(start))
                .execute(&mut *tx)
                .await
                .unwrap();
            if !open {
                sqlx::query("INSERT INTO conversations_ticketstatelog (ticket_id, old_status, new_status, changed_by_id, created_at) VALUES (?, 'open', 'closed', ?, ?)")
                    .bind(ticket)
                    .bind(agent.map(|a| a + 2))
                    .bind(dt(start + 180))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            // Four messages: customer, agent, customer, agent (the last one only when an
            // agent has the ticket).
            let lines: Vec<(&str, String, i64)> = vec![
                ("customer", ASKS[(cust % 6) as usize].to_owned(), 0),
                (
                    "agent",
                    REPLIES[(cust % 4) as usize].to_owned(),
                    3 + cust % 5,
                ),
                ("customer", "شكراً جزيلاً 🌷".to_owned(), 30),
                ("agent", "في خدمتك دايماً".to_owned(), 32),
            ];
            for (k, (sender, text, at)) in lines.into_iter().enumerate() {
                if sender == "agent" && agent.is_none() {
                    continue;
                }
                msg += 1;
                wa += 1;
                let (kind, media) = if cust % 10 == 3 && k == 0 {
                    let name = format!("messages/2025/09/prescription_{cust}_{round}.jpg");
                    if cust == 13 && round == 1 {
                        // Referenced but the file is gone.
                    } else {
                        let bytes = format!("JPEG روشتة {cust} {round}").into_bytes();
                        let path = media.join(name.replace('/', std::path::MAIN_SEPARATOR_STR));
                        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                        std::fs::write(&path, &bytes).unwrap();
                        media_bytes = bytes;
                    }
                    ("image", Some(name))
                } else {
                    ("text", None)
                };
                let status = match (sender, cust % 11, k) {
                    ("customer", _, _) => "received",
                    (_, 0, 3) => "pending",
                    _ => "read",
                };
                let wa_id = format!("true_20{}@c.us_3EB0{wa:08X}", 1_001_000_000 + cust);
                sqlx::query("INSERT INTO conversations_message (ticket_id, sender, content, message_type, created_at, status, media_file, whatsapp_message_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    .bind(ticket)
                    .bind(sender)
                    .bind(&text)
                    .bind(kind)
                    .bind(dt(start + at))
                    .bind(status)
                    .bind(&media)
                    .bind(&wa_id)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO conversations_messagesearchindex (message_id, search_text) VALUES (?, ?)")
                    .bind(msg)
                    .bind(&text)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                if sender == "agent" {
                    for (j, st) in ["sent", "delivered", "read"].iter().enumerate() {
                        sqlx::query("INSERT INTO conversations_messagedeliverylog (message_id, status, timestamp) VALUES (?, ?, ?)")
                            .bind(msg)
                            .bind(st)
                            .bind(dt(start + at + j as i64))
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                    }
                }
                // The webhook delivered every 9th customer's first message twice.
                if k == 0 && cust % 9 == 0 {
                    msg += 1;
                    sqlx::query("INSERT INTO conversations_message (ticket_id, sender, content, message_type, created_at, status, media_file, whatsapp_message_id)
                       VALUES (?, ?, ?, ?, ?, 'received', NULL, ?)")
                        .bind(ticket)
                        .bind(sender)
                        .bind(&text)
                        .bind(kind)
                        .bind(dt(start + at))
                        .bind(&wa_id)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
            }
            if let (Some(a), true) = (agent, !open || cust % 5 == 0) {
                let reply = start + 3 + cust % 5;
                sqlx::query("INSERT INTO conversations_responsetimetracking (ticket_id, agent_id, customer_message_time, agent_response_time, response_time_seconds, is_first_response)
                   VALUES (?, ?, ?, ?, ?, 1)")
                    .bind(ticket)
                    .bind(a)
                    .bind(dt(start))
                    .bind(dt(reply))
                    .bind(((reply - start) * 60) as f64)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
    }
    // Transfers: every 6th ticket went from its first agent to the next one.
    for &(t, _, agent, _, start) in tickets.iter().filter(|t| t.0 % 6 == 0) {
        let Some(a) = agent else { continue };
        sqlx::query("INSERT INTO conversations_tickettransferlog (ticket_id, from_agent_id, to_agent_id, transferred_by_id, reason, created_at) VALUES (?, ?, ?, 2, ?, ?)")
            .bind(t)
            .bind(a % AGENTS + 1)
            .bind(a)
            .bind("تحويل للفرع الأقرب للعميل")
            .bind(dt(start + 1))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Ratings on closed tickets with an agent; one out of range, one without a ticket.
    let mut rated = 0;
    for &(t, cust, agent, closed, start) in &tickets {
        if !(closed && agent.is_some() && cust <= CUSTOMERS && t % 3 == 0) {
            continue;
        }
        rated += 1;
        let rating = if rated == 5 { 7 } else { 1 + (t % 5) };
        sqlx::query("INSERT INTO conversations_customersatisfaction (customer_id, ticket_id, agent_id, rating, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(cust)
            .bind((rated != 7).then_some(t))
            .bind(agent)
            .bind(rating)
            .bind(format!("{rating} ممتاز"))
            .bind(dt(start + 200))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for i in 1..=5 {
        let (t, _, agent, _, start) = tickets[(i * 11) as usize];
        if let Some(a) = agent {
            sqlx::query("INSERT INTO conversations_agentdelayevent (agent_id, ticket_id, delay_seconds, created_at) VALUES (?, ?, 600, ?)")
                .bind(a)
                .bind(t)
                .bind(dt(start + 10))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    // Django's own KPI rows: per agent per month, from the messages above.
    let monthly: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT t.agent_id, substr(m.created_at, 1, 7), count(*) FROM conversations_message m
         JOIN conversations_ticket t ON t.id = m.ticket_id WHERE m.sender = 'agent' GROUP BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    for (agent, month, sent) in &monthly {
        sqlx::query("INSERT INTO conversations_agentkpimonthly (agent_id, year, month, messages_sent, avg_response_time, satisfaction, tickets_closed) VALUES (?, ?, ?, ?, 300.0, 4.2, 10)")
            .bind(agent)
            .bind(month[..4].parse::<i64>().unwrap())
            .bind(month[5..].parse::<i64>().unwrap())
            .bind(sent)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO conversations_agentkpi (agent_id, messages_sent, response_time, satisfaction, created_at) VALUES (?, ?, 300.0, 4.2, ?)")
            .bind(agent)
            .bind(sent)
            .bind(format!("{month}-28 23:00:00"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for (kw, reply, how) in [
        (
            "مواعيد",
            "الصيدلية مفتوحة من ٩ صباحاً حتى ٢ بعد منتصف الليل",
            "contains",
        ),
        ("توصيل", "التوصيل مجاني داخل المنصورة", "exact"),
        ("^\\d+$", "regex reply", "regex"),
    ] {
        sqlx::query("INSERT INTO conversations_autoreplytrigger (keyword, response, match_type, is_active, created_at) VALUES (?, ?, ?, 1, ?)")
            .bind(kw)
            .bind(reply)
            .bind(how)
            .bind(dt(-500))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for (name, body) in [
        ("greeting", "أهلاً بيك في صيدليات خليفة 🌷"),
        ("Prices", "الأسعار حسب آخر تحديث"),
        ("ساعات العمل", "من ٩ ص إلى ٢ ص"),
    ] {
        sqlx::query("INSERT INTO conversations_globaltemplate (name, content, is_active, created_at) VALUES (?, ?, 1, ?)")
            .bind(name)
            .bind(body)
            .bind(dt(-400))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for a in 1..=2 {
        sqlx::query("INSERT INTO conversations_agenttemplate (agent_id, name, content, created_at) VALUES (?, 'شكر', 'شكراً لتواصلك معانا', ?)")
            .bind(a)
            .bind(dt(-300))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for i in 1..=30 {
        sqlx::query("INSERT INTO conversations_activitylog (user_id, action, timestamp, details) VALUES (?, ?, ?, ?)")
            .bind(i % 7 + 1)
            .bind(["login", "ticket_transfer", "status_change"][(i % 3) as usize])
            .bind(dt(i * 50))
            .bind(if i % 2 == 0 { r#"{"ticket": 3}"#.to_owned() } else { format!("تفاصيل {i}") })
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for i in 1..=20 {
        sqlx::query("INSERT INTO conversations_loginattempt (username, ip_address, success, timestamp) VALUES (?, '10.0.0.5', ?, ?)")
            .bind(format!("agent{}", i % 5 + 1))
            .bind(i % 4 != 0)
            .bind(dt(i * 60))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    c.close().await.unwrap();
    media_bytes
}

/// Every row of every table of the service database, as text: equal dumps = nothing changed.
async fn dump(db: &Path) -> BTreeMap<String, Vec<String>> {
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let cols: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(&mut c)
                .await
                .unwrap();
        let row = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {row} FROM \"{t}\" ORDER BY 1"))
                .fetch_all(&mut c)
                .await
                .unwrap();
        out.insert(t, rows);
    }
    for fts in ["messages_fts", "customers_fts"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT rowid || ':' || {} FROM {fts} ORDER BY rowid",
            if fts == "messages_fts" {
                "body"
            } else {
                "text"
            }
        ))
        .fetch_all(&mut c)
        .await
        .unwrap();
        out.insert(fts.into(), rows);
    }
    c.close().await.unwrap();
    out
}

struct Fixture {
    dir: TempDir,
    django: PathBuf,
    media: PathBuf,
    target: PathBuf,
    media_bytes: Vec<u8>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = TempDir::new();
        let django = dir.0.join("django").join("db.sqlite3");
        let media = dir.0.join("django").join("media");
        std::fs::create_dir_all(&media).unwrap();
        let media_bytes = build_fixture(&django, &media).await;
        let target = dir.0.join("service").join("pharmacy.db");
        Fixture {
            dir,
            django,
            media,
            target,
            media_bytes,
        }
    }

    fn opts(&self, dry_run: bool) -> ImportOptions {
        ImportOptions {
            media_dir: Some(self.media.clone()),
            dry_run,
            ..ImportOptions::new(&self.django)
        }
    }

    fn config(&self) -> pharmacy_service::app::ServiceConfig {
        pharmacy_service::app::ServiceConfig {
            media_dir: self.dir.0.join("service").join("media"),
            ..config(&self.dir)
        }
    }

    async fn import(&self, dry_run: bool) -> ImportReport {
        run(
            &self.target,
            self.config(),
            Arc::new(ManualClock::new(T0)),
            &self.opts(dry_run),
        )
        .await
        .unwrap()
    }

    /// The service, seeded the way it is before the switch-over (15 branches, an admin).
    async fn service(&self) -> App {
        std::fs::create_dir_all(self.target.parent().unwrap()).unwrap();
        App::open(&self.target, Arc::new(ManualClock::new(T0)), self.config())
            .await
            .unwrap()
    }

    async fn source(&self) -> SqliteConnection {
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.django)
            .read_only(true)
            .connect()
            .await
            .unwrap()
    }
}

async fn ledger(app: &App, table: &str) -> BTreeMap<i64, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT source_id, target_id FROM import_source_ids WHERE source_table = ? AND target_id IS NOT NULL",
    )
    .bind(table)
    .fetch_all(app.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(s, t)| (s.parse().unwrap(), t))
    .collect()
}

async fn count(app: &App, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

#[tokio::test]
async fn a_dry_run_on_no_database_creates_nothing() {
    let f = Fixture::new().await;
    let report = f.import(true).await;
    assert!(report.dry_run);
    assert!(report.get("messages").imported > 400, "{report:#?}");
    assert!(!f.target.exists(), "a dry run must not create the database");
    assert!(!f.target.parent().unwrap().exists());
}

#[tokio::test]
async fn switch_over_import_end_to_end() {
    let f = Fixture::new().await;
    let app = f.service().await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    app.pool().close().await;
    let before = dump(&f.target).await;

    // 1. Dry run: reports everything, writes nothing.
    let dry = f.import(true).await;
    assert_eq!(
        dump(&f.target).await,
        before,
        "the dry run wrote to the database"
    );
    assert!(
        !f.dir.0.join("service").join("media").exists(),
        "the dry run stored media"
    );
    let json = serde_json::to_value(&dry).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["entities"]["customers"]["imported"], CUSTOMERS);
    assert_eq!(json["entities"]["customers"]["merged"], 2);
    assert_eq!(json["entities"]["customers"]["unmappable"], 1);
    let reasons: Vec<String> = dry
        .unmappable
        .iter()
        .map(|n| format!("{} {} {}", n.entity, n.source_id, n.reason))
        .collect();
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    assert!(has("customers 63 phone \"12345\""), "{reasons:#?}");
    assert!(
        has("tickets 63 customer \"63\" was not imported"),
        "{reasons:#?}"
    );
    assert!(has("unknown status \"escalated\""), "{reasons:#?}");
    assert!(has("customer_notes 50 customer \"63\""), "{reasons:#?}");
    assert!(
        has("auto_reply_triggers 3 match type \"regex\""),
        "{reasons:#?}"
    );
    assert!(has("rating \"7\" is not 1-5"), "{reasons:#?}");
    assert_eq!(
        dry.missing_media
            .iter()
            .map(|m| (m.path.as_str(), m.reason.as_str()))
            .collect::<Vec<_>>(),
        [("messages/2025/09/prescription_13_1.jpg", "not found")]
    );
    assert!(dry.human_summary().contains("DRY RUN"));

    // 2. The real run does exactly what the dry run announced.
    let real = f.import(false).await;
    assert!(!real.dry_run);
    assert_eq!(real.entities, dry.entities);
    assert_eq!(real.unmappable, dry.unmappable);
    assert_eq!(real.missing_media, dry.missing_media);
    let app = f.service().await;
    let mut src = f.source().await;

    // Users and agents: "admin" linked to the service's admin, the rest new; branches matched
    // (Arabic "فرع الجيش" included) and one created inactive.
    assert_eq!(real.get("users").imported, 7);
    assert_eq!(real.get("users").merged, 1);
    assert_eq!(real.get("agents").imported, AGENTS as u64);
    assert_eq!(real.get("branches").imported, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM branches WHERE is_active = 0 AND name = 'Mit Ghamr'"
        )
        .await,
        1
    );
    let gaish: String = sqlx::query_scalar(
        "SELECT b.code FROM agents a JOIN users u ON u.id = a.user_id JOIN branches b ON b.id = a.branch_id WHERE u.username = 'agent2'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(gaish, "el-gaish");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM users WHERE username = 'manager' AND role = 'admin'"
        )
        .await,
        1
    );

    // Customers: normalised numbers, duplicates merged, tags and notes all there.
    assert_eq!(
        count(&app, "SELECT count(*) FROM customers").await,
        CUSTOMERS
    );
    let customers = ledger(&app, "conversations_customer").await;
    assert_eq!(customers[&61], customers[&1]);
    assert_eq!(customers[&62], customers[&2]);
    let phone: String = sqlx::query_scalar("SELECT phone FROM customers WHERE id = ?")
        .bind(customers[&3])
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(phone, "201001000003");
    let mut c = app.pool().acquire().await.unwrap();
    let tags = |id: i64| {
        let pool = app.pool().clone();
        async move {
            let mut c = pool.acquire().await.unwrap();
            db::customers::tags(&mut c, CustomerId(id))
                .await
                .unwrap()
                .into_iter()
                .collect::<BTreeSet<String>>()
        }
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(tags(customers[&4]).await, set(&["vip", "مزمن"]));
    assert_eq!(tags(customers[&1]).await, set(&["توصيل", "سكر", "مكرر"]));
    assert_eq!(count(&app, "SELECT count(*) FROM customer_notes").await, 49);
    let found = db::customers::search(&mut c, &fts_query("فاطمه").unwrap(), 100)
        .await
        .unwrap();
    assert!(
        !found.is_empty(),
        "imported customers are searchable in Arabic"
    );
    drop(c);

    // Tickets: the one active ticket per customer holds (customer 1's older open ticket and
    // its duplicate's), states and priorities mapped, history identical to the source.
    let tickets = ledger(&app, "conversations_ticket").await;
    let src_tickets: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, status, agent_id FROM conversations_ticket ORDER BY id")
            .fetch_all(&mut src)
            .await
            .unwrap();
    assert_eq!(tickets.len(), src_tickets.len() - 2);
    assert_eq!(
        count(&app, "SELECT count(*) FROM (SELECT customer_id FROM tickets WHERE status <> 'closed' GROUP BY customer_id HAVING count(*) > 1)").await,
        0
    );
    let agents = ledger(&app, "conversations_agent").await;
    let mut superseded = 0;
    for (sid, status, agent) in &src_tickets {
        let Some(&tid) = tickets.get(sid) else {
            continue;
        };
        let (st, ag): (String, Option<i64>) =
            sqlx::query_as("SELECT status, agent_id FROM tickets WHERE id = ?")
                .bind(tid)
                .fetch_one(app.pool())
                .await
                .unwrap();
        if st != *status {
            assert_eq!((status.as_str(), st.as_str()), ("open", "closed"));
            superseded += 1;
        }
        assert_eq!(ag, agent.map(|a| agents[&a]));
        let want: Vec<(Option<String>, String, String)> = sqlx::query_as(
            "SELECT old_status, new_status, created_at FROM conversations_ticketstatelog WHERE ticket_id = ? ORDER BY id",
        )
        .bind(sid)
        .fetch_all(&mut src)
        .await
        .unwrap();
        let got: Vec<(Option<String>, String, i64)> = sqlx::query_as(
            "SELECT from_status, to_status, at FROM ticket_state_log WHERE ticket_id = ? ORDER BY id",
        )
        .bind(tid)
        .fetch_all(app.pool())
        .await
        .unwrap();
        // A ticket the import closed (superseded) has that closing logged after its history.
        let extra = usize::from(st != *status);
        assert_eq!(got.len(), want.len() + extra, "state log of ticket {sid}");
        if extra == 1 {
            let last = got.last().unwrap();
            assert_eq!(
                (last.0.as_deref(), last.1.as_str()),
                (Some("open"), "closed")
            );
        }
        for ((wf, wt, wat), (gf, gt, gat)) in want.iter().zip(&got) {
            assert_eq!((wf, wt), (gf, gt));
            let at: jiff::Timestamp = format!("{}Z", wat.replace(' ', "T")).parse().unwrap();
            assert_eq!(at.as_millisecond(), *gat);
        }
        let want: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT from_agent_id, to_agent_id, reason FROM conversations_tickettransferlog WHERE ticket_id = ? ORDER BY id",
        )
        .bind(sid)
        .fetch_all(&mut src)
        .await
        .unwrap();
        let got: Vec<(i64, i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT from_agent_id, to_agent_id, note, by_user_id FROM ticket_transfer_log WHERE ticket_id = ? ORDER BY id",
        )
        .bind(tid)
        .fetch_all(app.pool())
        .await
        .unwrap();
        assert_eq!(
            got.iter()
                .map(|g| (g.0, g.1, g.2.clone()))
                .collect::<Vec<_>>(),
            want.iter()
                .map(|w| (agents[&w.0], agents[&w.1], w.2.clone()))
                .collect::<Vec<_>>(),
            "transfer log of ticket {sid}"
        );
        assert!(
            got.iter().all(|g| g.3.is_some()),
            "transferred by the manager"
        );
    }
    // Django keeps the current agent only; messages before a transfer belong to the agent who
    // had the ticket then (ticket 6: agent 3 handed it to agent 2 a minute after it opened).
    let by_time: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT sender_kind, agent_id FROM messages WHERE ticket_id = ? ORDER BY created_at, id",
    )
    .bind(tickets[&6])
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(by_time[0], ("customer".to_owned(), Some(agents[&3])));
    assert_eq!(by_time[1], ("agent".to_owned(), Some(agents[&2])));
    assert_eq!(
        superseded, 2,
        "customers 1 and 2 each had two open tickets after the merge"
    );

    // Messages: all but the duplicated webhook deliveries and the unmapped tickets' ones;
    // media stored content-addressed; the missing file reported; delivery logs complete.
    let src_messages: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversations_message m JOIN conversations_ticket t ON t.id = m.ticket_id
         WHERE t.customer_id <> 63 AND t.status <> 'escalated'",
    )
    .fetch_one(&mut src)
    .await
    .unwrap();
    let dups = real.get("messages").merged as i64;
    assert!(dups > 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM messages").await,
        src_messages - dups
    );
    let sha: String = sqlx::query_scalar(
        "SELECT media_sha256 FROM messages WHERE media_name = 'prescription_3_1.jpg'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(!std::fs::read(app.media_path(&sha)).unwrap().is_empty());
    let last = sqlx::query_scalar::<_, String>(
        "SELECT media_sha256 FROM messages WHERE media_sha256 IS NOT NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(std::fs::read(app.media_path(&last)).unwrap(), f.media_bytes);
    assert_eq!(
        count(&app, "SELECT count(*) FROM messages WHERE media_name = 'prescription_13_1.jpg' AND media_sha256 IS NULL").await,
        1
    );
    let src_logs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversations_messagedeliverylog l JOIN conversations_message m ON m.id = l.message_id
         JOIN conversations_ticket t ON t.id = m.ticket_id WHERE t.customer_id <> 63 AND t.status <> 'escalated'",
    )
    .fetch_one(&mut src)
    .await
    .unwrap();
    assert_eq!(
        count(&app, "SELECT count(*) FROM message_delivery_log").await,
        src_logs
    );
    let hits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?")
            .bind(fts_query("بنادول").unwrap())
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(hits > 0, "imported messages are searchable");

    // 3. KPIs over the Django period equal the source's figures, agent by agent.
    let report = app
        .kpi_report(KpiQuery {
            from: jiff::civil::date(2025, 8, 1),
            to: jiff::civil::date(2025, 12, 31),
        })
        .await
        .unwrap();
    for (&dj, &agent) in &agents {
        let row = report.agents.iter().find(|r| r.agent_id.0 == agent);
        let (sent,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM conversations_message m JOIN conversations_ticket t ON t.id = m.ticket_id
             WHERE m.sender = 'agent' AND t.agent_id = ? AND t.status <> 'escalated'",
        )
        .bind(dj)
        .fetch_one(&mut src)
        .await
        .unwrap();
        let django_monthly: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(messages_sent), 0) FROM conversations_agentkpimonthly WHERE agent_id = ?",
        )
        .bind(dj)
        .fetch_one(&mut src)
        .await
        .unwrap();
        let (n, avg_s): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), avg(response_time_seconds) FROM conversations_responsetimetracking r
             JOIN conversations_ticket t ON t.id = r.ticket_id WHERE r.agent_id = ? AND t.status <> 'escalated'",
        )
        .bind(dj)
        .fetch_one(&mut src)
        .await
        .unwrap();
        let (rn, ravg): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), avg(rating) FROM conversations_customersatisfaction WHERE agent_id = ? AND rating BETWEEN 1 AND 5",
        )
        .bind(dj)
        .fetch_one(&mut src)
        .await
        .unwrap();
        let closed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversations_ticket WHERE agent_id = ? AND status = 'closed' AND customer_id <> 63",
        )
        .bind(dj)
        .fetch_one(&mut src)
        .await
        .unwrap();
        let row = row.unwrap_or_else(|| panic!("agent {dj} has no KPI row"));
        assert_eq!(
            row.totals.messages_sent, sent,
            "messages sent by agent {dj}"
        );
        assert_eq!(
            row.totals.messages_sent, django_monthly,
            "Django AgentKPIMonthly of agent {dj}"
        );
        assert_eq!(row.totals.first_response_count, n, "agent {dj}");
        let got = row.avg_first_response_s.unwrap();
        assert!(
            (got - avg_s.unwrap()).abs() < 1e-6,
            "agent {dj}: {got} vs {avg_s:?}"
        );
        assert_eq!(row.totals.csat_count, rn, "ratings of agent {dj}");
        if rn > 0 {
            assert!((row.csat_avg.unwrap() - ravg.unwrap()).abs() < 1e-9);
        }
        assert_eq!(
            row.totals.tickets_handled, closed,
            "tickets closed by agent {dj}"
        );
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM agent_delay_events").await,
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM conversations_agentdelayevent")
            .fetch_one(&mut src)
            .await
            .unwrap()
    );
    // Django's KPI rows themselves, verbatim.
    let (kpi_rows, monthly_rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations_agentkpi), (SELECT count(*) FROM conversations_agentkpimonthly)",
    )
    .fetch_one(&mut src)
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM legacy_kpi_snapshots WHERE agent_id IS NOT NULL"
        )
        .await,
        kpi_rows + monthly_rows + AGENTS,
        "AgentKPI, AgentKPIMonthly and the figures on each Agent row"
    );
    let (period, fields): (String, String) = sqlx::query_as(
        "SELECT period, fields_json FROM legacy_kpi_snapshots WHERE source_table = 'conversations_agentkpimonthly' ORDER BY id LIMIT 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(period.len(), 7);
    let fields: serde_json::Value = serde_json::from_str(&fields).unwrap();
    assert!(fields["messages_sent"].as_i64().unwrap() > 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM activity_log WHERE details_json LIKE '%\"source\":\"django\"%'"
        )
        .await,
        30
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM activity_log WHERE action = 'import.django'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "SELECT count(*) FROM login_attempts").await, 20);
    assert_eq!(
        count(&app, "SELECT count(*) FROM auto_reply_triggers").await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM templates WHERE key = 'greeting-1' AND is_system = 0"
        )
        .await,
        1,
        "Django's greeting does not replace the service's"
    );
    app.pool().close().await;

    // 4. A second run changes nothing.
    let before = dump(&f.target).await;
    let again = f.import(false).await;
    assert_eq!(
        dump(&f.target).await,
        before,
        "the second run changed the database"
    );
    assert_eq!(again.total_imported(), 0, "{again:#?}");
    assert_eq!(
        again.get("messages").skipped_existing,
        real.get("messages").imported + real.get("messages").merged
    );
    assert!(again.changed_since_import.is_empty());

    // Rows edited in Django after they were imported are reported, not overwritten.
    let mut w = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&f.django)
        .connect()
        .await
        .unwrap();
    w.execute(
        "UPDATE conversations_ticket SET status = 'closed', closed_at = '2025-09-30 10:00:00' WHERE id = 65;
         UPDATE conversations_customer SET name = 'اسم جديد' WHERE id = 7;",
    )
    .await
    .unwrap();
    w.close().await.unwrap();
    let third = f.import(false).await;
    assert_eq!(
        dump(&f.target).await,
        before,
        "the third run changed the database"
    );
    assert_eq!(
        third
            .changed_since_import
            .iter()
            .map(|n| (n.entity.as_str(), n.source_id.as_str()))
            .collect::<Vec<_>>(),
        [("customers", "7"), ("tickets", "65")]
    );
    assert_eq!(third.get("tickets").changed_since_import, 1);

    // 5. The imported pharmacist logs in with the Django password; it becomes argon2id.
    let app = f.service().await;
    assert!(
        app.authenticate("agent1", "wrong", None)
            .await
            .unwrap()
            .is_none()
    );
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'agent1'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(hash.starts_with("pbkdf2_sha256$1000$"));
    let user = app
        .authenticate("agent1", OLD_PASSWORD, Some("10.0.0.5"))
        .await
        .unwrap()
        .expect("the old password works");
    assert_eq!(user.username, "agent1");
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'agent1'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        app.authenticate("agent1", OLD_PASSWORD, None)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        app.authenticate("manager", "مدير-2024", None)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        app.authenticate("former", "anything", None)
            .await
            .unwrap()
            .is_none()
    );
    // The service's own admin kept its password.
    assert!(
        app.authenticate("admin", &SeedOptions::default().admin_password, None)
            .await
            .unwrap()
            .is_some()
    );
    src.close().await.unwrap();
}

#[tokio::test]
async fn a_failing_run_changes_nothing() {
    let f = Fixture::new().await;
    let app = f.service().await;
    app.pool().close().await;
    let before = dump(&f.target).await;
    // A trigger on the target that refuses some messages makes the run fail half-way.
    let app = f.service().await;
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.body LIKE '%شكراً جزيلاً%' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        .execute(app.pool())
        .await
        .unwrap();
    app.pool().close().await;
    let before_trigger = dump(&f.target).await;
    let err = run(
        &f.target,
        f.config(),
        Arc::new(ManualClock::new(T0)),
        &f.opts(false),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("messages"), "{err}");
    assert_eq!(
        dump(&f.target).await,
        before_trigger,
        "a failed run left rows behind"
    );
    assert_eq!(before.len(), before_trigger.len());
}

#[tokio::test]
async fn messages_without_a_ticket_join_their_customers_ticket() {
    let dir = TempDir::new();
    let django = dir.0.join("db.sqlite3");
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&django)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    c.execute(
        "CREATE TABLE conversations_customer (id INTEGER PRIMARY KEY, phone TEXT, name TEXT, created_at TEXT);
         CREATE TABLE conversations_ticket (id INTEGER PRIMARY KEY, customer_id INT, agent_id INT, status TEXT, priority TEXT, created_at TEXT, closed_at TEXT);
         CREATE TABLE conversations_message (id INTEGER PRIMARY KEY, ticket_id INT NULL, customer_id INT NULL, sender TEXT, content TEXT,
             message_type TEXT, created_at TEXT, status TEXT);
         INSERT INTO conversations_customer VALUES (1, '01001234567', 'منى', '2025-09-01 08:00:00');
         INSERT INTO conversations_customer VALUES (2, '01101234567', 'بلا تذاكر', '2025-09-01 08:00:00');
         INSERT INTO conversations_ticket VALUES (1, 1, NULL, 'closed', 'normal', '2025-09-01 08:00:00', '2025-09-01 09:00:00');
         INSERT INTO conversations_ticket VALUES (2, 1, NULL, 'open', 'normal', '2025-09-03 08:00:00', NULL);
         INSERT INTO conversations_message VALUES (1, NULL, 1, 'customer', 'قبل التذكرة الثانية', 'text', '2025-09-02 10:00:00', 'received');
         INSERT INTO conversations_message VALUES (2, NULL, 1, 'customer', 'بعدها', 'text', '2025-09-04 10:00:00', 'received');
         INSERT INTO conversations_message VALUES (3, NULL, 2, 'customer', 'لا تذكرة', 'text', '2025-09-04 10:00:00', 'received');",
    )
    .await
    .unwrap();
    c.close().await.unwrap();
    let target = dir.0.join("service").join("pharmacy.db");
    let report = run(
        &target,
        config(&dir),
        Arc::new(ManualClock::new(T0)),
        &ImportOptions::new(&django),
    )
    .await
    .unwrap();
    assert_eq!(report.get("messages").imported, 2);
    assert_eq!(report.get("messages").unmappable, 1);
    assert!(report.unmappable[0].reason.contains("no imported ticket"));
    let app = App::open(&target, Arc::new(ManualClock::new(T0)), config(&dir))
        .await
        .unwrap();
    let tickets = ledger(&app, "conversations_ticket").await;
    let placed: Vec<(String, i64)> =
        sqlx::query_as("SELECT body, ticket_id FROM messages ORDER BY created_at")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(
        placed,
        [
            ("قبل التذكرة الثانية".to_owned(), tickets[&1]),
            ("بعدها".to_owned(), tickets[&2])
        ]
    );
}
