//! The demo organisations: realistic enough to work a shift in, deterministic across runs.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Transaction};

use crate::auth::password;
use crate::clock::{format_micros, now_micros};
use crate::error::Result;
use crate::rest::write::preview;

/// Password of every demo login.
pub use switchboard_api_client::DEMO_PASSWORD;

const NORTHSIDE_DISPATCHERS: &[(&str, &str)] = &[
    ("ana@northside.test", "Ana Okafor"),
    ("ben@northside.test", "Ben Lindqvist"),
    ("cy@northside.test", "Cy Moreau"),
];
const MEDIC_NAMES: &[&str] = &[
    "Jordan Reyes",
    "Priya Natarajan",
    "Sam Whitaker",
    "Lena Kowalski",
    "Marcus Bell",
    "Aiko Tanaka",
    "Diego Alvarez",
    "Ruth Mensah",
    "Owen Gallagher",
    "Nadia Haddad",
    "Theo Brandt",
    "Grace Adeyemi",
];
const LAKESIDE_MEDIC_NAMES: &[&str] = &["Ivy Marsh", "Cole Benton", "Rosa Quinn"];

const MEDIC_LINES: &[&str] = &[
    "Medic {u} on scene, patient conscious and talking.",
    "Adult male, chest pain radiating to left arm, onset 30 min ago.",
    "BP {bp}, HR {hr}, SpO2 {o2}% on room air.",
    "Starting transport to {h}, ETA {m} min.",
    "Requesting ALS intercept at {st}.",
    "Patient refusing transport, getting signature now.",
    "Scene is safe, PD on site.",
    "Two patients, minor injuries, requesting a second unit.",
    "12-lead shows ST elevation, activating cath lab please.",
    "Glucose {g}, giving oral glucose.",
    "Arrived at {h}, handing over to ED staff.",
    "Back in service, available for calls.",
    "Stuck in traffic on {st}, adding 5 min.",
    "Patient is a fall from standing, possible hip fracture.",
    "Need lift assist, patient around 180 kg.",
    "Pediatric patient, 4 y/o, febrile seizure, now postictal.",
    "Naloxone 2 mg IN given, patient responding.",
    "Can you confirm the cross street? GPS is showing {st}.",
];
const DISPATCH_LINES: &[&str] = &[
    "Copy, {h} ED notified.",
    "Understood, ALS unit en route, ETA {m} min.",
    "Cath lab activated at {h}.",
    "Cross street is {st}, caller says blue door.",
    "Copy, marking you available.",
    "PD is {m} min out, stage until clear.",
    "Second unit assigned, Medic {u2} responding.",
    "Noted. Fire is coming for lift assist.",
    "Caller reports patient has a pacemaker.",
    "Please confirm when you are back in service.",
];
const HOSPITALS: &[&str] = &[
    "St. Mary's",
    "Mercy General",
    "Northside Regional",
    "Lakeview Children's",
];
const STREETS: &[&str] = &[
    "5th & Alder",
    "Harbor Rd",
    "Route 9 northbound",
    "Elm St & Pike",
    "Mill Ave",
];

/// True when the database already holds data (then it is never seeded again).
pub fn has_data(tx: &Transaction<'_>) -> Result<bool> {
    let count: i64 = tx.query_row("SELECT count(*) FROM orgs", [], |r| r.get(0))?;
    Ok(count > 0)
}

/// Inserts the demo organisations; call only on an empty database.
pub fn seed_demo(tx: &Transaction<'_>) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(0x5eed_d15a_7c40);
    // One hash for every demo login: the password is public, so per-user salts buy nothing,
    // and hashing 19 times would slow every test server's start.
    let hash = password::hash(DEMO_PASSWORD)?;
    let now = now_micros();

    let northside = uuid_from(&mut rng);
    tx.execute(
        "INSERT INTO orgs (id, name) VALUES (?1, ?2)",
        params![northside, "Northside EMS"],
    )?;
    let mut dispatchers = Vec::new();
    for (email, name) in NORTHSIDE_DISPATCHERS {
        dispatchers.push(insert_user(
            tx,
            &mut rng,
            &northside,
            email,
            name,
            "dispatcher",
            &hash,
        )?);
    }
    let mut medics = Vec::new();
    for (i, name) in MEDIC_NAMES.iter().enumerate() {
        let email = format!("medic{:02}@northside.test", i + 1);
        medics.push(insert_user(
            tx, &mut rng, &northside, &email, name, "medic", &hash,
        )?);
    }
    seed_org(
        tx,
        &mut rng,
        &northside,
        &dispatchers,
        &medics,
        40,
        2000,
        now,
    )?;

    let lakeside = uuid_from(&mut rng);
    tx.execute(
        "INSERT INTO orgs (id, name) VALUES (?1, ?2)",
        params![lakeside, "Lakeside Ambulance"],
    )?;
    let lee = insert_user(
        tx,
        &mut rng,
        &lakeside,
        "lee@lakeside.test",
        "Lee Harmon",
        "dispatcher",
        &hash,
    )?;
    let mut lake_medics = Vec::new();
    for (i, name) in LAKESIDE_MEDIC_NAMES.iter().enumerate() {
        let email = format!("medic{:02}@lakeside.test", i + 1);
        lake_medics.push(insert_user(
            tx, &mut rng, &lakeside, &email, name, "medic", &hash,
        )?);
    }
    seed_org(tx, &mut rng, &lakeside, &[lee], &lake_medics, 4, 60, now)?;
    tx.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('seed', 'demo')",
        [],
    )?;
    // The same statement that gave databases seeded before canned replies existed theirs.
    tx.execute_batch(super::migrations::DEMO_CANNED_REPLIES)?;
    // Each conversation's subject (the medic's unit and an incident number), with the
    // statement that gave demo databases seeded before subjects existed theirs.
    tx.execute_batch(super::migrations::DEMO_SUBJECTS)?;
    Ok(())
}

/// The demo logins printed at start: (email, role, org).
pub fn demo_logins() -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (email, _) in NORTHSIDE_DISPATCHERS {
        out.push((email.to_string(), "dispatcher", "Northside EMS"));
    }
    out.push((
        "lee@lakeside.test".to_string(),
        "dispatcher",
        "Lakeside Ambulance",
    ));
    out.push((
        "medic01@northside.test … medic12@northside.test".to_string(),
        "medic",
        "Northside EMS",
    ));
    out.push((
        "medic01@lakeside.test … medic03@lakeside.test".to_string(),
        "medic",
        "Lakeside Ambulance",
    ));
    out
}

fn uuid_from(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn insert_user(
    tx: &Transaction<'_>,
    rng: &mut StdRng,
    org: &str,
    email: &str,
    name: &str,
    role: &str,
    hash: &str,
) -> Result<String> {
    let id = uuid_from(rng);
    tx.execute(
        "INSERT INTO users (id, org_id, email, password_hash, display_name, role) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, org, email, hash, name, role],
    )?;
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
fn seed_org(
    tx: &Transaction<'_>,
    rng: &mut StdRng,
    org: &str,
    dispatchers: &[String],
    medics: &[String],
    conversations: usize,
    messages: usize,
    now: i64,
) -> Result<()> {
    const DAY: i64 = 86_400_000_000;
    let per_conv = messages / conversations;
    let mut insert_msg = tx.prepare(
        "INSERT INTO messages (id, org_id, conversation_id, sender_id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for c in 0..conversations {
        let medic = &medics[c % medics.len()];
        let conv_id = uuid_from(rng);
        // Spread conversations over the last week; the newest ones end minutes ago.
        let end = now
            - (c as i64) * (DAY * 7 / conversations as i64)
            - rng.random_range(60..600) * 1_000_000;
        let start = end - rng.random_range(2..12) * 3_600_000_000;
        tx.execute(
            "INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![conv_id, org, medic, format_micros(start)],
        )?;
        let step = (end - start) / per_conv as i64;
        let mut last = (start, String::new());
        for m in 0..per_conv {
            let at = start + step * m as i64 + rng.random_range(0..step.max(2) / 2);
            let at = at.max(last.0 + 1);
            let from_medic = m % 3 != 2;
            let (sender, body) = if from_medic {
                (medic.clone(), fill(rng, MEDIC_LINES))
            } else {
                (
                    dispatchers[rng.random_range(0..dispatchers.len())].clone(),
                    fill(rng, DISPATCH_LINES),
                )
            };
            insert_msg.execute(params![
                uuid_from(rng),
                org,
                conv_id,
                sender,
                body,
                format_micros(at)
            ])?;
            last = (at, body);
        }
        tx.execute(
            "UPDATE conversations SET last_message_at = ?1, last_message_preview = ?2 WHERE id = ?3",
            params![format_micros(last.0), preview(&last.1), conv_id],
        )?;
        // Dispatchers have read everything except a handful of recent conversations each.
        for (d, dispatcher) in dispatchers.iter().enumerate() {
            let unread = c < 6 && (c + d) % 2 == 0;
            let read_at = if unread { last.0 - step * 3 } else { last.0 };
            tx.execute(
                "INSERT INTO read_state (user_id, conversation_id, last_read_at) VALUES (?1, ?2, ?3)",
                params![dispatcher, conv_id, format_micros(read_at)],
            )?;
        }
        tx.execute(
            "INSERT INTO read_state (user_id, conversation_id, last_read_at) VALUES (?1, ?2, ?3)",
            params![medic, conv_id, format_micros(last.0)],
        )?;
    }
    Ok(())
}

fn fill(rng: &mut StdRng, lines: &[&str]) -> String {
    let line = lines[rng.random_range(0..lines.len())];
    line.replace("{u}", &rng.random_range(1..30).to_string())
        .replace("{u2}", &rng.random_range(1..30).to_string())
        .replace(
            "{bp}",
            &format!(
                "{}/{}",
                rng.random_range(95..175),
                rng.random_range(55..105)
            ),
        )
        .replace("{hr}", &rng.random_range(52..138).to_string())
        .replace("{o2}", &rng.random_range(88..100).to_string())
        .replace("{g}", &rng.random_range(38..320).to_string())
        .replace("{m}", &rng.random_range(3..22).to_string())
        .replace("{h}", HOSPITALS[rng.random_range(0..HOSPITALS.len())])
        .replace("{st}", STREETS[rng.random_range(0..STREETS.len())])
}
