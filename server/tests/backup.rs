//! `backup` and `restore` against a real database file: an online copy under a write load,
//! restore refused while a server holds the database, and refused for files that are not a
//! sound Switchboard database.
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use reqwest::StatusCode;
use serde_json::json;
use switchboard_server::backup;

/// Message ids in the database at `path`, read from a file nobody else has open.
fn message_ids(path: &Path) -> HashSet<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn.prepare("SELECT id FROM messages").unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<rusqlite::Result<HashSet<_>>>()
        .unwrap();
    ids
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Posts a message every 10 ms (100 a second), each in its own task so a slow answer does
/// not slow the rate, recording the id of each one answered 201 and when.
fn write_load(
    s: &Server,
    token: String,
    conv: String,
    acked: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let api = s.api.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut posts = tokio::task::JoinSet::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            let (api, token, conv, acked) =
                (api.clone(), token.clone(), conv.clone(), acked.clone());
            posts.spawn(async move {
                let id = uuid::Uuid::new_v4().to_string();
                let body = json!({"id": id, "conversation_id": conv, "body": "under load"});
                let reply = api
                    .insert_messages(&body, switchboard_api_client::Returning::Minimal, &token)
                    .await
                    .unwrap();
                if reply.status == StatusCode::CREATED {
                    acked.lock().unwrap().push((Instant::now(), id));
                }
            });
        }
        while posts.join_next().await.is_some() {}
    })
}

async fn wait_for_acks(acked: &Mutex<Vec<(Instant, String)>>, at_least: usize) {
    while acked.lock().unwrap().len() < at_least {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_backup_under_load_holds_every_message_acknowledged_before_it() {
    let mut s = Server::start().await;
    let medic = s.login("medic01@northside.test").await;
    let (conv, _) = s.first_conversation(&medic).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = write_load(&s, medic, conv, acked.clone(), stop.clone());
    wait_for_acks(&acked, 30).await;

    let out = s.dir.path().join("copy.db");
    let began = Instant::now();
    let (db, to) = (s.db_path(), out.clone());
    let summary = tokio::task::spawn_blocking(move || backup::backup(&db, &to, false))
        .await
        .unwrap()
        .unwrap();
    let after = acked.lock().unwrap().len();
    // The load goes on after the copy: the server kept writing throughout.
    wait_for_acks(&acked, after + 30).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();

    let copied = message_ids(&out);
    let before: Vec<String> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, id)| id.clone())
        .collect();
    assert!(before.len() >= 30, "{}", before.len());
    let missing: Vec<&String> = before.iter().filter(|id| !copied.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the copy: {missing:?}"
    );
    assert_eq!(summary.messages as usize, copied.len());
    assert_eq!(summary.bytes, std::fs::metadata(&out).unwrap().len());
    // Checked again here, independently of what `backup` said.
    let check: String = rusqlite::Connection::open(&out)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);

    // An existing file is never overwritten without --force; with it, replaced whole.
    let (db, to) = (s.db_path(), out.clone());
    let refused = backup::backup(&db, &to, false).unwrap_err();
    assert!(refused.to_string().contains("--force"), "{refused}");
    let itself = backup::backup(&db, &db, true).unwrap_err();
    assert!(itself.to_string().contains("itself"), "{itself}");
    let replaced = backup::backup(&db, &to, true).unwrap();
    assert!(replaced.messages >= summary.messages);
    assert_eq!(message_ids(&out).len() as i64, replaced.messages);
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    s.stop().await;
}

#[tokio::test]
async fn restore_is_refused_while_a_server_holds_the_database_and_works_once_it_stopped() {
    let mut s = Server::start().await;
    let medic = s.login("medic01@northside.test").await;
    let (conv, _) = s.first_conversation(&medic).await;
    let post = |body: &'static str| {
        let id = uuid::Uuid::new_v4().to_string();
        let msg = json!({"id": id, "conversation_id": conv, "body": body});
        (id, msg)
    };
    let (kept, msg) = post("in the backup");
    assert_eq!(s.post_message(&medic, msg).await.0, StatusCode::CREATED);

    // The binary, as an operator runs it, while this server runs.
    let out = s.dir.path().join("nightly.db");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
        .arg("backup")
        .arg(&out)
        .arg("--db")
        .arg(s.db_path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        printed.contains("messages") && printed.contains("integrity ok"),
        "{printed}"
    );

    let (lost, msg) = post("after the backup");
    assert_eq!(s.post_message(&medic, msg).await.0, StatusCode::CREATED);

    let db = s.db_path();
    let refused = backup::restore(&out, &db).unwrap_err();
    assert!(refused.to_string().contains("in use"), "{refused}");
    let still = s
        .get(
            "/rest/v1/messages?select=id&body=eq.after%20the%20backup",
            &medic,
        )
        .await;
    assert_eq!(
        still.1.as_array().map(Vec::len),
        Some(1),
        "untouched: {}",
        still.1
    );

    s.stop().await;
    let restored = backup::restore(&out, &db).unwrap();
    let ids = message_ids(&db);
    assert!(ids.contains(&kept) && !ids.contains(&lost));
    assert_eq!(restored.messages as usize, ids.len());
    #[cfg(unix)]
    assert_eq!(mode(&db), 0o600);
    for side in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(side);
        assert!(
            !Path::new(&p).exists(),
            "{side} of the old database left behind"
        );
    }

    // A server starts on the restored file and serves it.
    let running = switchboard_server::start(common::config(db.clone()))
        .await
        .unwrap();
    let api = switchboard_api_client::Client::new(
        &format!("http://{}", running.addr),
        running.state.keys().anon_key(),
    );
    let token = api
        .sign_in(
            "medic01@northside.test",
            switchboard_api_client::DEMO_PASSWORD,
        )
        .await
        .unwrap()
        .access_token;
    let found = api
        .get(&format!("/rest/v1/messages?select=id&id=eq.{kept}"), &token)
        .await
        .unwrap();
    assert_eq!(
        found.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        found.body
    );
    // And while it runs, a second server on the same file is refused too.
    let second = switchboard_server::start(common::config(db.clone())).await;
    assert!(second.is_err());
    running.stop().await;
}

#[tokio::test]
async fn restore_refuses_a_file_that_is_not_a_sound_switchboard_database() {
    let mut s = Server::start().await;
    let db = s.db_path();
    let good = s.dir.path().join("good.db");
    backup::backup(&db, &good, false).unwrap();
    s.stop().await;
    let before = message_ids(&db);

    let other = s.dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    let text = s.dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just text ".repeat(200)).unwrap();
    // A real backup with a page in the middle overwritten.
    let corrupt = s.dir.path().join("corrupt.db");
    let mut bytes = std::fs::read(&good).unwrap();
    let page = 4096;
    let middle = (bytes.len() / page / 2) * page;
    bytes[middle..middle + page].fill(0x5a);
    std::fs::write(&corrupt, bytes).unwrap();

    for (file, says) in [
        (&other, "not a Switchboard database"),
        (&text, "not a"),
        (&corrupt, "corrupt"),
        (&s.dir.path().join("absent.db"), "no file"),
    ] {
        let refused = backup::restore(file, &db).unwrap_err().to_string();
        assert!(refused.contains(says), "{}: {refused}", file.display());
    }
    assert_eq!(message_ids(&db), before, "the database is untouched");
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
