//! Demo and first-run data: the 15 Mansoura branches, the system templates, an admin and one
//! agent per branch. Idempotent: running it again updates branches; a login that already
//! exists is left as it is (its password is never overwritten: `seed` on a production data
//! directory must not hand out the admin's account).

use super::{App, AppError};
use crate::db;
use crate::db::branches::NewBranch;
use crate::db::users::Role;
use crate::domain::ids::UserId;
use crate::domain::schedule::{Span, WeeklyHours};
use serde::Serialize;

/// What to seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// The admin's password.
    pub admin_password: String,
    /// Every demo agent's password.
    pub agent_password: String,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            admin_password: "admin-demo-2026".into(),
            agent_password: "agent-demo-2026".into(),
        }
    }
}

/// The logins created, for the demo's first line of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoCredentials {
    /// (username, password).
    pub admin: (String, String),
    /// (username, password, branch name).
    pub agents: Vec<(String, String, String)>,
}

/// (code, English name, Arabic name, address, latitude, longitude, open 24 hours).
const BRANCHES: &[(&str, &str, &str, &str, f64, f64, bool)] = &[
    (
        "gomhoreya",
        "Khalifa Pharmacy – El Gomhoreya St",
        "صيدلية خليفة – شارع الجمهورية",
        "12 El Gomhoreya St, Mansoura",
        31.04250,
        31.37900,
        true,
    ),
    (
        "toriel",
        "Khalifa Pharmacy – Toriel",
        "صيدلية خليفة – توريل",
        "45 Toriel St, Mansoura",
        31.04400,
        31.36200,
        true,
    ),
    (
        "mashaya",
        "Khalifa Pharmacy – El Mashaya",
        "صيدلية خليفة – المشاية",
        "Nile Corniche (El Mashaya El Sofleya), Mansoura",
        31.04650,
        31.37000,
        false,
    ),
    (
        "ahmed-maher",
        "Khalifa Pharmacy – Ahmed Maher",
        "صيدلية خليفة – أحمد ماهر",
        "88 Ahmed Maher St, Mansoura",
        31.03950,
        31.37600,
        false,
    ),
    (
        "gehan",
        "Khalifa Pharmacy – Gehan St",
        "صيدلية خليفة – شارع جيهان",
        "Gehan El Sadat St, near the University, Mansoura",
        31.04050,
        31.35550,
        false,
    ),
    (
        "el-gaish",
        "Khalifa Pharmacy – El Gaish St",
        "صيدلية خليفة – شارع الجيش",
        "150 El Gaish St, Mansoura",
        31.03550,
        31.38300,
        false,
    ),
    (
        "hay-el-gamaa",
        "Khalifa Pharmacy – Hay El Gamaa",
        "صيدلية خليفة – حي الجامعة",
        "El Gamaa District, Mansoura",
        31.03750,
        31.35050,
        false,
    ),
    (
        "sekka-gedida",
        "Khalifa Pharmacy – El Sekka El Gedida",
        "صيدلية خليفة – السكة الجديدة",
        "El Sekka El Gedida St, Mansoura",
        31.04500,
        31.38500,
        false,
    ),
    (
        "talkha",
        "Khalifa Pharmacy – Talkha",
        "صيدلية خليفة – طلخا",
        "El Bahr St, Talkha",
        31.05700,
        31.37600,
        false,
    ),
    (
        "mokhtalat",
        "Khalifa Pharmacy – El Mokhtalat",
        "صيدلية خليفة – المختلط",
        "El Mokhtalat Hospital Sq, Mansoura",
        31.03300,
        31.39000,
        false,
    ),
    (
        "samia-gammal",
        "Khalifa Pharmacy – Samia El Gammal",
        "صيدلية خليفة – سامية الجمل",
        "Samia El Gammal St, Mansoura",
        31.03000,
        31.37000,
        false,
    ),
    (
        "abdel-salam-aref",
        "Khalifa Pharmacy – Abdel Salam Aref",
        "صيدلية خليفة – عبد السلام عارف",
        "Abdel Salam Aref St, Mansoura",
        31.04800,
        31.39200,
        false,
    ),
    (
        "sandoub",
        "Khalifa Pharmacy – Sandoub",
        "صيدلية خليفة – سندوب",
        "Sandoub Ring Rd, Mansoura",
        31.02000,
        31.40000,
        false,
    ),
    (
        "mahatta",
        "Khalifa Pharmacy – El Mahatta",
        "صيدلية خليفة – المحطة",
        "Railway Station Sq, Mansoura",
        31.04200,
        31.39600,
        false,
    ),
    (
        "shinnawy",
        "Khalifa Pharmacy – El Shinnawy",
        "صيدلية خليفة – الشناوي",
        "El Shinnawy St, Mansoura",
        31.03400,
        31.36400,
        false,
    ),
];

/// The system templates (Arabic first, English second: customers write in both).
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "greeting",
        "Greeting",
        "أهلاً {customer_name} 👋 شكراً لتواصلك مع صيدليات خليفة، سيرد عليك أحد الصيادلة خلال دقائق.\nHello {customer_name}, thank you for contacting Khalifa Pharmacies; a pharmacist will reply within minutes.",
    ),
    (
        "out_of_office",
        "Out of office",
        "أهلاً {customer_name}، الفرع مغلق الآن (مواعيد اليوم: {branch_hours}). سنرد عليك فور فتح الفرع.\nHello {customer_name}, the branch is closed now (today: {branch_hours}). We will answer as soon as it opens.",
    ),
    (
        "branch_menu",
        "Branch menu",
        "اختر الفرع الأقرب لك بإرسال رقمه فقط:\nPlease choose your nearest branch by sending its number:\n{branch_menu}",
    ),
    (
        "csat_survey",
        "Satisfaction survey",
        "شكراً لتواصلك مع {branch_name_ar}. كيف تقيّم الخدمة من 1 إلى 5؟ أرسل رقماً واحداً.\nThank you for contacting {branch_name}. How would you rate our service from 1 to 5? Reply with one digit.",
    ),
    (
        "csat_thanks",
        "Thanks for rating",
        "شكراً لتقييمك 🌷\nThank you for your rating.",
    ),
    (
        "transfer_notice",
        "Transfer notice",
        "تم تحويل محادثتك إلى {branch_name_ar}.\nYour conversation is now with {branch_name}.",
    ),
];

/// The chain's 15 branches as the seed knows them: what a fresh installation starts from, and
/// what the switch-over page offers when mapping the old system's branch names.
pub fn default_branches() -> Vec<NewBranch> {
    let evening = WeeklyHours::every_day(&[Span::hm(9, 0, 2, 0)]);
    let always = WeeklyHours::every_day(&[Span::hm(0, 0, 24, 0)]);
    BRANCHES
        .iter()
        .map(
            |(code, name, name_ar, address, lat, lon, all_day)| NewBranch {
                code: (*code).into(),
                name: (*name).into(),
                name_ar: (*name_ar).into(),
                address: (*address).into(),
                phone: None,
                latitude: *lat,
                longitude: *lon,
                hours: if *all_day {
                    always.clone()
                } else {
                    evening.clone()
                },
            },
        )
        .collect()
}

impl App {
    /// Seeds branches, system templates, the admin and one agent per branch. The credentials
    /// returned are those given in `opts`; they hold for the logins this call created (an
    /// existing login keeps its password, its activation and its role).
    pub async fn seed_demo(&self, opts: &SeedOptions) -> Result<DemoCredentials, AppError> {
        let now = self.now();
        let admin_hash = super::hash_password(&opts.admin_password)?;
        let agent_hash = super::hash_password(&opts.agent_password)?;
        let mut tx = self.begin().await?;
        let mut branch_ids = Vec::new();
        for b in default_branches() {
            let id = db::branches::upsert(&mut tx, &b, now).await?;
            branch_ids.push((id, b.code, b.name));
        }
        for (key, title, body) in TEMPLATES {
            if db::templates::global(&mut tx, key).await?.is_none() {
                db::templates::upsert(&mut tx, None, key, title, body, true, now).await?;
            }
        }
        let admin = existing_or_new_user(
            &mut tx,
            "admin",
            "Khalifa Admin",
            &admin_hash,
            Role::Admin,
            now,
        )
        .await?;
        let mut agents = Vec::new();
        for (branch, code, name) in &branch_ids {
            let username = format!("agent.{code}");
            let display = format!(
                "Pharmacist {}",
                name.trim_start_matches("Khalifa Pharmacy – ")
            );
            let user =
                existing_or_new_user(&mut tx, &username, &display, &agent_hash, Role::Agent, now)
                    .await?;
            if db::agents::by_user(&mut tx, user).await?.is_none() {
                db::agents::insert(
                    &mut tx,
                    user,
                    Some(*branch),
                    10,
                    &WeeklyHours::default(),
                    now,
                )
                .await?;
            }
            agents.push((username, opts.agent_password.clone(), (*name).to_owned()));
        }
        db::activity::log(&mut tx, Some(admin), "seed.demo", None, None, now).await?;
        tx.commit().await?;
        Ok(DemoCredentials {
            admin: ("admin".into(), opts.admin_password.clone()),
            agents,
        })
    }
}

/// The user named `username`, created with `hash` when there is none.
async fn existing_or_new_user(
    c: &mut db::Conn,
    username: &str,
    name: &str,
    hash: &str,
    role: Role,
    now: crate::domain::time::Timestamp,
) -> Result<UserId, AppError> {
    Ok(match db::users::by_username(c, username).await? {
        Some(u) => u.id,
        None => db::users::insert(c, username, name, None, hash, role, now).await?,
    })
}
