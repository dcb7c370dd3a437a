//! Storage-level checks on fresh database files.

use crate::support::*;
use pharmacy_service::app::{App, SeedOptions, SystemClock};
use pharmacy_service::db;
use std::sync::Arc;

#[tokio::test]
async fn migrations_apply_once_and_reopen_cleanly() {
    let dir = TempDir::new();
    let path = dir.0.join("pharmacy.db");
    let pool = db::open(&path).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, db::MIGRATOR.iter().count() as i64);
    pool.close().await;
    let pool = db::open(&path).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_customer_has_at_most_one_active_ticket() {
    let w = World::new().await;
    let t = w.text("201001234567", "U1", "hi").await;
    let mut c = w.app.pool().acquire().await.unwrap();
    let cu = db::tickets::by_id(&mut c, t)
        .await
        .unwrap()
        .unwrap()
        .customer_id;
    assert!(db::tickets::insert(&mut c, cu, None, T0).await.is_err());
}

#[tokio::test]
async fn the_demo_seed_is_idempotent() {
    let dir = TempDir::new();
    let app = App::open(
        &dir.0.join("pharmacy.db"),
        Arc::new(SystemClock),
        config(&dir),
    )
    .await
    .unwrap();
    let opts = SeedOptions::default();
    let creds = app.seed_demo(&opts).await.unwrap();
    assert_eq!(creds.agents.len(), 15);
    app.seed_demo(&opts).await.unwrap();
    let count = |sql: &'static str| {
        let pool = app.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM branches").await, 15);
    assert_eq!(count("SELECT count(*) FROM agents").await, 15);
    assert_eq!(
        count("SELECT count(DISTINCT branch_id) FROM agents").await,
        15
    );
    assert_eq!(
        count("SELECT count(*) FROM templates WHERE is_system = 1").await,
        6
    );
    let user = app
        .authenticate("agent.toriel", &opts.agent_password, Some("127.0.0.1"))
        .await
        .unwrap();
    assert!(user.is_some());
    assert!(
        app.authenticate("agent.toriel", "wrong", None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        count("SELECT count(*) FROM login_attempts WHERE success = 0").await,
        1
    );
}
