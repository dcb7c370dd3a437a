//! Accounts in a real browser (issue 30 item 3): an admin resets an agent's password from the
//! agents page; the agent logs in with it, must choose their own first, then finds their own
//! figures and adds a personal template on "My account".

use super::browser::{BROWSER, Browser, Service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_resets_a_password_and_the_agent_replaces_it_then_keeps_a_template() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (admin_user, admin_pass) = svc.creds.admin.clone();
    let (agent_user, _, _) = svc.creds.agents[0].clone();
    let agent_uid = svc.user_id(&agent_user).await;

    let mut b = Browser::start("accounts-admin", "ar").await;
    b.login(&svc.base, &admin_user, &admin_pass).await;
    b.js("window.location.hash = '#/agents'; window.confirm = () => true; return 1")
        .await;
    let row = format!("#users-admin [data-user='{agent_uid}']");
    b.until(
        "the logins table",
        &format!("!!document.querySelector(\"{row}\")"),
    )
    .await;
    b.axe("the agents page with logins and tokens").await;
    b.type_into(&format!("{row} input[type=password]"), "temporary-pass-9")
        .await;
    b.click(&format!("{row} button[type=submit]")).await;
    b.until(
        "the row says a new password must be chosen",
        &format!(
            "document.querySelector(\"{row}\").textContent.includes('يجب اختيار كلمة مرور جديدة')"
        ),
    )
    .await;
    b.shot("reset").await;
    b.close().await;

    // The agent: the reset password lets them in only to choose their own.
    let mut b = Browser::start("accounts-agent", "ar").await;
    b.open(&svc.base).await;
    b.until(
        "the login form",
        "!document.getElementById('view-login').hidden",
    )
    .await;
    b.type_into("#login-username", &agent_user).await;
    b.type_into("#login-password", "temporary-pass-9").await;
    b.click("#login-submit").await;
    b.until(
        "the change-password form",
        "!document.getElementById('pw-form').hidden",
    )
    .await;
    b.type_into("#pw-new", "my-own-pass-42").await;
    b.type_into("#pw-repeat", "my-own-pass-42").await;
    b.click("#pw-submit").await;
    b.until("the app", "!document.getElementById('view-app').hidden")
        .await;

    // My account: figures and a personal template.
    b.click("a[data-page='account']").await;
    b.until(
        "the account page",
        "!!document.getElementById('my-kpi') && !!document.getElementById('my-templates')",
    )
    .await;
    b.type_into("#my-tpl-key", "arrives").await;
    b.type_into("#my-tpl-title", "الطلب بكرة").await;
    b.type_into("#my-tpl-body", "الدواء يوصل بكرة إن شاء الله")
        .await;
    b.click("#my-templates button[type=submit]").await;
    b.until(
        "the template listed",
        "!!document.querySelector(\"#my-templates [data-template='arrives']\")",
    )
    .await;
    b.shot("account").await;
    b.axe("my account").await;
    assert_eq!(b.contract_violations().await, Vec::<String>::new());
    b.close().await;
    assert!(
        svc.app
            .authenticate(&agent_user, "my-own-pass-42", None)
            .await
            .unwrap()
            .is_some()
    );
}
