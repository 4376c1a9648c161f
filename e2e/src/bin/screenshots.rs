//! `cargo xtask screenshots`: the main screens in light and dark, wide and phone-sized,
//! taken from the real built app against a demo-seeded server, into `docs/screenshots/`
//! (or the directory given as the first argument). The README links them; rerun after a
//! visible change so they stay current.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use switchboard_e2e::page::{
    choose_theme, login, open_conversation, phone_viewport, search_messages, wait_shown, WAIT,
};
use switchboard_e2e::{repo_root, Error, Session};

/// Desktop size of the shots (CSS px).
const WIDE: (u32, u32) = (1280, 800);
/// Phone size of the shots (CSS px): a common 6-inch phone.
const PHONE: (u32, u32) = (390, 844);

async fn shot(s: &Session, dir: &std::path::Path, name: &str) -> Result<(), Error> {
    // Let fonts, transitions and the relative times settle.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let png = s.screenshot().await?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png)
        .map_err(|e| Error::Setup(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn run(dir: PathBuf) -> Result<(), Error> {
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Setup(format!("cannot create {}: {e}", dir.display())))?;
    let (server, browser, ana) = switchboard_e2e::setup(None).await?;
    let s = browser.session.clone();
    let base = server.url();
    let convs: Vec<Value> = ana.conversations().await?;
    let open = convs
        .iter()
        .find(|c| c["unread_count"].as_i64() > Some(0))
        .or_else(|| convs.first())
        .and_then(|c| c["id"].as_str())
        .unwrap_or_default()
        .to_string();

    phone_viewport(&s, Some(WIDE)).await;
    s.goto(&format!("{base}/login")).await?;
    s.wait_for("[data-testid=login-form]", WAIT).await?;
    shot(&s, &dir, "login-wide-light").await?;
    login(&s, &base, "ana@northside.test").await;
    for theme in ["light", "dark"] {
        choose_theme(&s, theme).await;
        phone_viewport(&s, Some(WIDE)).await;
        s.goto(&format!("{base}/messages")).await?;
        wait_shown(&s, "[data-testid=conversation-item]", true).await;
        open_conversation(&s, &open).await;
        shot(&s, &dir, &format!("dashboard-wide-{theme}")).await?;
        phone_viewport(&s, Some(PHONE)).await;
        shot(&s, &dir, &format!("thread-phone-{theme}")).await?;
        s.goto(&format!("{base}/messages")).await?;
        wait_shown(&s, "[data-testid=conversation-item]", true).await;
        shot(&s, &dir, &format!("list-phone-{theme}")).await?;
    }
    phone_viewport(&s, Some(WIDE)).await;
    choose_theme(&s, "light").await;
    s.goto(&format!("{base}/messages/{open}")).await?;
    wait_shown(&s, "[data-testid=message]", true).await;
    search_messages(&s, "scene").await;
    shot(&s, &dir, "search-wide-light").await?;
    s.goto(&format!("{base}/messages")).await?;
    let button = s.wait_for("[data-testid=new-conversation]", WAIT).await?;
    s.click(&button).await?;
    s.wait_for("[data-testid=new-conversation-subject]", WAIT)
        .await?;
    shot(&s, &dir, "new-conversation-wide-light").await?;
    browser.stop().await;
    drop(server);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("docs/screenshots"));
    match run(dir).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("screenshots: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
