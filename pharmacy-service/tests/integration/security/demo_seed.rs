//! `demo` and `seed` next to production data (issue 19, item 3): the demo refuses a data
//! directory it did not create and holds the instance lock like `serve`; `seed` never
//! overwrites an existing login's password.

use crate::support::{TempDir, config};
use pharmacy_service::app::{App, SeedOptions, SystemClock};
use pharmacy_service::demo::{DEMO_MARKER, DemoError, DemoOptions, start};
use pharmacy_service::ops::lock::LockError;
use std::path::PathBuf;
use std::sync::Arc;

fn quiet(data_dir: PathBuf) -> DemoOptions {
    DemoOptions {
        port: 0,
        data_dir,
        manual_pair: true,
        traffic: false,
        ..DemoOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_refuses_a_foreign_directory_and_a_running_instance() {
    // A production directory: its database is there, and no demo marker.
    let prod = TempDir::new();
    std::fs::write(prod.0.join("pharmacy.db"), b"").unwrap();
    let err = start(quiet(prod.0.clone()))
        .await
        .expect_err("the demo started on a production directory");
    assert!(matches!(err, DemoError::NotDemoData(_)), "{err}");
    assert!(!prod.0.join(DEMO_MARKER).exists());
    assert_eq!(std::fs::read(prod.0.join("pharmacy.db")).unwrap(), b"");

    // A new directory becomes the demo's; a second demo on it meets the lock.
    let dir = TempDir::new();
    let own = dir.0.join("demo-data");
    let first = start(quiet(own.clone()))
        .await
        .expect("the demo on a new directory");
    assert!(own.join(DEMO_MARKER).is_file());
    let second = start(quiet(own.clone())).await;
    let refused = matches!(&second, Err(DemoError::Lock(LockError::Held { .. })));
    let shown = second
        .as_ref()
        .map(|_| "started")
        .map_err(ToString::to_string);
    if let Ok(d) = second {
        d.shutdown().await;
    }
    first.shutdown().await;
    assert!(refused, "a second demo on the same directory: {shown:?}");
}

#[tokio::test]
async fn seed_keeps_existing_passwords() {
    let dir = TempDir::new();
    let app = App::open(
        &dir.0.join("pharmacy.db"),
        Arc::new(SystemClock),
        config(&dir),
    )
    .await
    .unwrap();
    pharmacy_service::http::first_run_admin_with(&app, Some("production-secret-1".into()))
        .await
        .unwrap();
    let seeded = app.seed_demo(&SeedOptions::default()).await.unwrap();
    let login = |user: &'static str, pw: String| {
        let app = app.clone();
        async move {
            app.authenticate(user, &pw, Some("127.0.0.1"))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(
        login("admin", "production-secret-1".into()).await,
        "seed changed the existing admin's password"
    );
    assert!(!login("admin", seeded.admin.1.clone()).await);
    // The logins it created have the seed's password.
    assert!(login("agent.toriel", seeded.agents[0].1.clone()).await);
}
