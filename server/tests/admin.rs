//! Staff administration (issue 16): `switchboard-server org …` / `user …` run as the built
//! binary on a temp database, beside an in-process server on the same file.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ws::{Got, Ws};
use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::config::Seed;

/// A password the length rule accepts (21 characters).
const PASSWORD: &str = "correct horse battery";

/// How soon a disabled user's socket must close and their tokens stop working (the
/// issue's bound; the server polls every 250 ms).
const WITHIN: Duration = Duration::from_secs(1);

/// What one run of the binary printed, and its exit status.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `switchboard-server ARGS --db DB` with `stdin` piped in (so not a terminal), on a
/// blocking thread: the in-process server keeps running meanwhile.
async fn admin(db: &Path, args: &[&str], stdin: &str) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"));
    command
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("run switchboard-server");
        {
            use std::io::Write;
            let mut pipe = child.stdin.take().unwrap();
            // A command that refuses before reading closes its end: that is not a failure.
            let _ = pipe.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// [`admin`] that must succeed; its stdout.
async fn ok(db: &Path, args: &[&str], stdin: &str) -> String {
    let run = admin(db, args, stdin).await;
    assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
    run.stdout
}

/// [`admin`] that must be refused with exit status `code` and `says` on stderr.
async fn refused(db: &Path, args: &[&str], stdin: &str, code: i32, says: &str) {
    let run = admin(db, args, stdin).await;
    assert_eq!(run.code, Some(code), "{args:?}: {run:?}");
    assert!(run.stderr.contains(says), "{args:?}: {run:?}");
}

/// The password typed twice, as stdin carries it.
fn twice(password: &str) -> String {
    format!("{password}\n{password}\n")
}

/// A centre made with the binary: one organisation with a dispatcher and a medic, both
/// with [`PASSWORD`]. Answers the org id.
async fn centre(db: &Path) -> String {
    let org = ok(db, &["org", "add", "Harbor EMS"], "").await;
    let org = org.trim().to_string();
    assert!(uuid::Uuid::parse_str(&org).is_ok(), "{org:?}");
    for (email, name, role) in [
        ("dana@harbor.example", "Dana Ruiz", "dispatcher"),
        ("sam@harbor.example", "Sam Lee", "medic"),
    ] {
        let args = [
            "user", "add", "--org", &org, "--email", email, "--name", name, "--role", role,
        ];
        ok(db, &args, &twice(PASSWORD)).await;
    }
    org
}

/// A server on `db`, without the demo seed.
async fn serve(db: &Path) -> Server {
    let db = db.to_path_buf();
    Server::start_with(move |c| {
        c.db_path = db;
        c.seed = Seed::None;
    })
    .await
}

/// GoTrue's password grant: status and body.
async fn sign_in(s: &Server, email: &str, password: &str) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/auth/v1/token?grant_type=password",
        None,
        Some(json!({"email": email, "password": password})),
        &[],
    )
    .await
}

async fn refresh(s: &Server, refresh_token: &str) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/auth/v1/token?grant_type=refresh_token",
        None,
        Some(json!({ "refresh_token": refresh_token })),
        &[],
    )
    .await
}

fn token(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_string()
}

fn topic(org: &str) -> String {
    format!("realtime:web-messages:org_{org}")
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("centre.db");
    (dir, db)
}

/// Every command through the binary, with each refusal the issue names, then a first
/// conversation between the accounts it made: the README's "Set up your own centre".
#[tokio::test]
async fn a_centre_set_up_with_the_commands_holds_a_first_conversation() {
    let (_dir, db) = temp_db();
    refused(&db, &["user", "list", "--org", "x"], "", 1, "no database").await;
    assert!(!db.exists(), "a mistyped --db makes no database");
    refused(&db, &["org", "remove", "x"], "", 2, "usage").await;

    let org = centre(&db).await;
    refused(
        &db,
        &["org", "add", " harbor ems "],
        "",
        1,
        "exists already",
    )
    .await;
    refused(&db, &["org", "add", "  "], "", 1, "empty").await;
    let orgs = ok(&db, &["org", "list"], "").await;
    let line = orgs.lines().find(|l| l.contains(&org)).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        [org.as_str(), "Harbor", "EMS", "1", "1"],
        "{orgs}"
    );

    let add = |email: &'static str, role: &'static str| {
        [
            "user",
            "add",
            "--org",
            "Harbor EMS",
            "--email",
            email,
            "--name",
            "Alex Kim",
            "--role",
            role,
        ]
    };
    // Unique ignoring case, as sign-in matches emails.
    refused(
        &db,
        &add("DANA@Harbor.Example", "medic"),
        &twice(PASSWORD),
        1,
        "belongs to an account already",
    )
    .await;
    refused(
        &db,
        &add("alex@harbor.example", "medic"),
        &twice("eleven char"),
        1,
        "at least 12",
    )
    .await;
    refused(
        &db,
        &add("alex@harbor.example", "medic"),
        &format!("{PASSWORD}\n{PASSWORD}!\n"),
        1,
        "differ",
    )
    .await;
    refused(
        &db,
        &add("alex@harbor.example", "medic"),
        &format!("{PASSWORD}\n"),
        1,
        "two password lines",
    )
    .await;
    refused(&db, &add("alex@harbor", "medic"), "", 1, "needs a dot").await;
    refused(
        &db,
        &add("alex@harbor.example", "chief"),
        "",
        2,
        "dispatcher or medic",
    )
    .await;
    let mut generated = add(" Alex@Harbor.example ", "medic").to_vec();
    generated.push("--generate");
    let out = ok(&db, &generated, "").await;
    assert!(out.contains("<alex@harbor.example>"), "{out}");
    let alex_password = out
        .lines()
        .find_map(|l| l.split_once("once; hand it over in person): "))
        .map(|(_, p)| p.to_string())
        .unwrap();
    assert_eq!(alex_password.len(), 29, "{out}");

    let users = ok(&db, &["user", "list", "--org", &org], "").await;
    for email in [
        "dana@harbor.example",
        "sam@harbor.example",
        "alex@harbor.example",
    ] {
        let line = users.lines().find(|l| l.starts_with(email)).unwrap();
        assert!(line.contains("active"), "{users}");
    }
    refused(
        &db,
        &["user", "list", "--org", "Nowhere"],
        "",
        1,
        "org list",
    )
    .await;

    // A new password for the medic, read from stdin; the old one stops working.
    let new_password = "a brand new passphrase";
    let out = ok(
        &db,
        &["user", "passwd", "SAM@harbor.example"],
        &twice(new_password),
    )
    .await;
    assert!(out.contains("sam@harbor.example"), "{out}");
    refused(
        &db,
        &["user", "passwd", "nobody@harbor.example"],
        &twice(new_password),
        1,
        "no user",
    )
    .await;
    refused(
        &db,
        &["user", "passwd", "sam@harbor.example"],
        &twice("too short"),
        1,
        "at least 12",
    )
    .await;

    let s = serve(&db).await;
    let (status, body) = sign_in(&s, "sam@harbor.example", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_credentials"))
    );
    let (status, alex) = sign_in(&s, "alex@harbor.example", &alex_password).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the generated password works: {alex}"
    );
    let (status, sam) = sign_in(&s, "sam@harbor.example", new_password).await;
    assert_eq!(status, StatusCode::OK, "{sam}");
    let (status, dana) = sign_in(&s, "Dana@harbor.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{dana}");
    let meta = &dana["user"]["app_metadata"];
    assert_eq!(
        (
            meta["org_id"].as_str(),
            meta["org_name"].as_str(),
            meta["app_role"].as_str()
        ),
        (Some(org.as_str()), Some("Harbor EMS"), Some("dispatcher"))
    );

    // The dispatcher starts a conversation with the medic ("New conversation"); the medic
    // answers; the dispatcher reads it.
    let (status, rows) = s
        .call(
            Method::POST,
            "/rest/v1/conversations",
            Some(&token(&dana)),
            Some(json!({"medic_id": sam["user"]["id"], "subject": "Medic 1 · Inc 26-0001"})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    let conversation = rows[0]["id"].as_str().unwrap().to_string();
    let (status, rows) = s
        .post_message(
            &token(&sam),
            json!({"conversation_id": conversation, "body": "On scene"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    let (status, rows) = s
        .get(
            &format!("/rest/v1/messages?select=body&conversation_id=eq.{conversation}"),
            &token(&dana),
        )
        .await;
    assert_eq!(
        (status, rows),
        (StatusCode::OK, json!([{"body": "On scene"}]))
    );
}

/// `user disable` while a server runs: within a second the user's live socket closes and
/// their access and refresh tokens stop working, while another user's socket stays; a
/// sign-in is refused as GoTrue refuses a banned user; `user enable` lets them back in.
#[tokio::test]
async fn disabling_a_user_ends_their_socket_and_sessions_and_enabling_restores_sign_in() {
    let (_dir, db) = temp_db();
    let org = centre(&db).await;
    let s = serve(&db).await;
    let (_, dana) = sign_in(&s, "dana@harbor.example", PASSWORD).await;
    let (_, sam) = sign_in(&s, "sam@harbor.example", PASSWORD).await;
    let mut dana_ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = dana_ws.join(&topic(&org), &token(&dana), json!([])).await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    let mut sam_ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = sam_ws.join(&topic(&org), &token(&sam), json!([])).await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");

    let out = ok(&db, &["user", "disable", "Dana@Harbor.example"], "").await;
    let disabled = Instant::now();
    assert!(
        out.contains("Disabled dana@harbor.example") && out.contains("1 session(s) ended"),
        "{out}"
    );

    // The socket closes (policy violation) before the deadline; frames before it, such as
    // the join's system message, are skipped.
    let closed = loop {
        let left = WITHIN.saturating_sub(disabled.elapsed());
        match dana_ws.recv_within(left).await {
            Some(Got::Frame(_)) => continue,
            Some(Got::Closed(code)) => break code,
            None => panic!("the disabled user's socket was still open after {WITHIN:?}"),
        }
    };
    assert_eq!(closed, Some(1008));
    assert!(
        disabled.elapsed() <= WITHIN,
        "closed after {:?}",
        disabled.elapsed()
    );

    let (status, body) = sign_in(&s, "dana@harbor.example", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str(), body["message"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("user_banned"),
            Some("User is banned")
        )
    );
    let (status, body) = sign_in(&s, "dana@harbor.example", "not the password at all").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_credentials"))
    );
    let old_refresh = dana["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&s, old_refresh).await;
    assert_eq!(
        (status, body["code"].as_str(), body["message"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("user_banned"),
            Some("Invalid Refresh Token: User Banned")
        )
    );
    let (status, body) = s
        .get("/rest/v1/conversations?select=id", &token(&dana))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("user_banned"))
    );
    let mut again = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = again.join(&topic(&org), &token(&dana), json!([])).await;
    assert_eq!(
        (
            reply["payload"]["status"].as_str(),
            reply["payload"]["response"]["reason"].as_str()
        ),
        (Some("error"), Some("InvalidJWTToken: User is banned")),
        "{reply}"
    );

    // The medic is untouched: their socket still answers a heartbeat, their REST works.
    let r = sam_ws.make_ref();
    sam_ws
        .send(None, Some(&r), "phoenix", "heartbeat", json!({}))
        .await;
    let beat = sam_ws.recv_event("phx_reply").await;
    assert_eq!(
        (beat["ref"].as_str(), beat["payload"]["status"].as_str()),
        (Some(r.as_str()), Some("ok"))
    );
    let (status, _) = s
        .get("/rest/v1/conversations?select=id", &token(&sam))
        .await;
    assert_eq!(status, StatusCode::OK);

    let out = ok(&db, &["user", "disable", "dana@harbor.example"], "").await;
    assert!(out.contains("disabled already"), "{out}");
    let users = ok(&db, &["user", "list", "--org", "Harbor EMS"], "").await;
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("dana@harbor.example") && l.contains("disabled since")),
        "{users}"
    );

    let out = ok(&db, &["user", "enable", "dana@harbor.example"], "").await;
    assert!(out.contains("Enabled dana@harbor.example"), "{out}");
    let enabled = Instant::now();
    let (status, back) = sign_in(&s, "dana@harbor.example", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "sign-in reads the account itself: {back}"
    );
    // REST and Realtime follow at the server's next poll.
    loop {
        let (status, body) = s
            .get("/rest/v1/conversations?select=id", &token(&back))
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(body["code"], "user_banned");
        assert!(
            enabled.elapsed() <= WITHIN,
            "REST still refused after {WITHIN:?}"
        );
        // Pacing only: the bound is the deadline above.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Sessions ended by the disabling stay ended.
    let (status, body) = refresh(&s, old_refresh).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("session_expired"))
    );
    let out = ok(&db, &["user", "enable", "dana@harbor.example"], "").await;
    assert!(out.contains("not disabled"), "{out}");
}

/// A user disabled while no server runs is refused from the next start's first request:
/// the server reads the set before it serves, not at its first poll.
#[tokio::test]
async fn a_user_disabled_while_the_server_is_down_is_refused_from_its_start() {
    let (_dir, db) = temp_db();
    centre(&db).await;
    let mut s = serve(&db).await;
    let (_, dana) = sign_in(&s, "dana@harbor.example", PASSWORD).await;
    s.stop().await;
    ok(&db, &["user", "disable", "dana@harbor.example"], "").await;
    let s = serve(&db).await;
    let (status, body) = s
        .get("/rest/v1/conversations?select=id", &token(&dana))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("user_banned"))
    );
}
