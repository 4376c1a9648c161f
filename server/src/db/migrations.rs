//! Schema migrations, applied in order at start and recorded in `user_version`.

/// The demo organisations' canned replies, for databases the demo seed created (marked by
/// `settings.seed = 'demo'`) whose org has none yet; so running it again adds nothing.
/// Part of migration 3, because a seeded database is never seeded again and must still get
/// them; the seed runs it too, after creating the orgs of a new database. Frozen with
/// migration 3: new or changed replies need a new migration. `supabase/migrations/` seeds
/// the same list.
macro_rules! demo_canned_replies {
    () => {
        r#"
INSERT INTO canned_replies (id, org_id, label, body, position)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
             || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2)
             || '-' || hex(randomblob(6))),
       o.id, r.column3, r.column4, r.column2
  FROM (VALUES
        ('Northside EMS', 1, 'Copy', 'Copy.'),
        ('Northside EMS', 2, 'Stand by', 'Stand by.'),
        ('Northside EMS', 3, 'ETA?', 'What is your ETA?'),
        ('Northside EMS', 4, 'PD en route', 'PD is en route, stage until the scene is secure.'),
        ('Northside EMS', 5, 'Second unit', 'Second unit en route.'),
        ('Northside EMS', 6, 'Channel 2', 'Go to channel 2.'),
        ('Northside EMS', 7, 'ED notified', 'Receiving ED has been notified.'),
        ('Northside EMS', 8, 'Confirm address', 'Please confirm the address and cross street.'),
        ('Lakeside Ambulance', 1, 'Copy', 'Copy.'),
        ('Lakeside Ambulance', 2, 'Stand by', 'Stand by.'),
        ('Lakeside Ambulance', 3, 'ETA?', 'What is your ETA?'),
        ('Lakeside Ambulance', 4, 'PD en route', 'PD is en route, stage until the scene is secure.'),
        ('Lakeside Ambulance', 5, 'Fire for lift assist', 'Fire is en route for lift assist.'),
        ('Lakeside Ambulance', 6, 'Channel 2', 'Go to channel 2.'),
        ('Lakeside Ambulance', 7, 'Call landline', 'Call dispatch on the landline when able.')
       ) AS r
  JOIN orgs o ON o.name = r.column1
 WHERE EXISTS (SELECT 1 FROM settings WHERE key = 'seed' AND value = 'demo')
   AND NOT EXISTS (SELECT 1 FROM canned_replies c WHERE c.org_id = o.id);
"#
    };
}

/// [`demo_canned_replies`] as a statement of its own, for the demo seed.
pub const DEMO_CANNED_REPLIES: &str = demo_canned_replies!();

/// Subjects for the demo organisations' conversations that have none, in databases the demo
/// seed created: the medic's EMS unit and an incident number, e.g. "Medic 6 · Inc 26-0412"
/// (the year of the conversation's start, then numbers counting down from the org's newest
/// conversation). Part of migration 5, so a demo database seeded before subjects existed
/// gets them; the seed runs it after creating the conversations. Frozen with migration 5.
/// A medic without a demo unit gets their name instead; a non-demo org keeps `''`.
macro_rules! demo_subjects {
    () => {
        r#"
UPDATE conversations
   SET subject = coalesce((
       SELECT coalesce(unit.column2, u.display_name) || ' · Inc ' || substr(conversations.created_at, 3, 2)
              || '-' || printf('%04d', base.column2 - (
                   SELECT count(*) FROM conversations later
                    WHERE later.org_id = conversations.org_id
                      AND (later.created_at, later.id) > (conversations.created_at, conversations.id)))
         FROM users u
         JOIN orgs o ON o.id = u.org_id
         JOIN (VALUES ('Northside EMS', 412), ('Lakeside Ambulance', 91)) AS base ON base.column1 = o.name
         LEFT JOIN (VALUES
               ('medic01@northside.test', 'Medic 6'), ('medic02@northside.test', 'Medic 3'),
               ('medic03@northside.test', 'Medic 11'), ('medic04@northside.test', 'Rescue 2'),
               ('medic05@northside.test', 'Medic 8'), ('medic06@northside.test', 'Medic 14'),
               ('medic07@northside.test', 'Ambulance 21'), ('medic08@northside.test', 'Medic 5'),
               ('medic09@northside.test', 'Rescue 7'), ('medic10@northside.test', 'Medic 9'),
               ('medic11@northside.test', 'Ambulance 17'), ('medic12@northside.test', 'Medic 12'),
               ('medic01@lakeside.test', 'Ambulance 41'), ('medic02@lakeside.test', 'Ambulance 43'),
               ('medic03@lakeside.test', 'Ambulance 46')
              ) AS unit ON unit.column1 = u.email
        WHERE u.id = conversations.medic_id), subject)
 WHERE subject = ''
   AND EXISTS (SELECT 1 FROM settings WHERE key = 'seed' AND value = 'demo');
"#
    };
}

/// [`demo_subjects`] as a statement of its own, for the demo seed.
pub const DEMO_SUBJECTS: &str = demo_subjects!();

/// Each entry moves the schema one version forward; never edit a released entry.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('dispatcher', 'medic'))
);
CREATE INDEX users_org ON users(org_id);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    medic_id TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    last_message_at TEXT,
    last_message_preview TEXT
);
CREATE INDEX conversations_org ON conversations(org_id, last_message_at);
CREATE INDEX conversations_medic ON conversations(medic_id);
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    sender_id TEXT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_conversation_time ON messages(conversation_id, created_at);
CREATE INDEX messages_org_time ON messages(org_id, created_at);
CREATE TABLE read_state (
    user_id TEXT NOT NULL REFERENCES users(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    last_read_at TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 2: when a refresh token was spent, for the reuse window.
    r#"
ALTER TABLE refresh_tokens ADD COLUMN used_at_us INTEGER;
"#,
    // 3: urgent priority (fixed at insert: there is no message UPDATE path), one
    // acknowledgement per message, and the org's canned replies (with the demo orgs' set).
    concat!(
        r#"
ALTER TABLE messages ADD COLUMN priority TEXT NOT NULL DEFAULT 'routine'
    CONSTRAINT messages_priority_check CHECK (priority IN ('routine', 'urgent'));
CREATE INDEX messages_urgent ON messages(conversation_id, created_at) WHERE priority = 'urgent';
CREATE TABLE message_acks (
    message_id TEXT PRIMARY KEY REFERENCES messages(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    acked_at TEXT NOT NULL
);
CREATE INDEX message_acks_org ON message_acks(org_id);
CREATE TABLE canned_replies (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    label TEXT NOT NULL,
    body TEXT NOT NULL,
    position INTEGER NOT NULL,
    UNIQUE (org_id, position)
);
"#,
        demo_canned_replies!()
    ),
    // 4: a read marker is never ahead of its conversation's newest message (in one without
    // messages, of the clock): markers written before `rest::write::set_read_marker`
    // clamped them are pulled back, as the hosted migration 20261130000000 does.
    r#"
UPDATE read_state
   SET last_read_at = coalesce(
         (SELECT max(m.created_at) FROM messages m WHERE m.conversation_id = read_state.conversation_id),
         strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
 WHERE last_read_at > coalesce(
         (SELECT max(m.created_at) FROM messages m WHERE m.conversation_id = read_state.conversation_id),
         strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'));
"#,
    // 5: a conversation's subject (issue 15). Rows from before keep '' and stay writable;
    // new ones are checked by `rest::write::check_subject` (hosted: an insert trigger, not a
    // CHECK, which would refuse updates of the old rows). Demo databases get the demo
    // subjects.
    concat!(
        r#"
ALTER TABLE conversations ADD COLUMN subject TEXT NOT NULL DEFAULT '';
"#,
        demo_subjects!()
    ),
    // 6: message search (`rest/search.rs`): each message's words, folded and joined by
    // spaces by the Rust function `search_words` (registered on every connection), so the
    // `ascii` tokenizer only splits on those spaces. Contentless (the body is in `messages`),
    // keeping the message id because a rowid may change on VACUUM; `detail=none` since
    // queries are AND-ed prefix terms, never phrases. Messages are only ever inserted (no
    // UPDATE or DELETE path), so one trigger keeps it whole; existing messages are indexed
    // here.
    r#"
CREATE VIRTUAL TABLE message_search USING fts5(
    words, message_id UNINDEXED,
    content = '', contentless_unindexed = 1, detail = none, tokenize = 'ascii'
);
INSERT INTO message_search (words, message_id) SELECT search_words(body), id FROM messages;
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (words, message_id) VALUES (search_words(new.body), new.id);
END;
"#,
    // 7: staff administration (issue 16, `admin/`): when an administrator disabled a user
    // (null: active), indexed for the running server's poll of the disabled ids
    // (`admin::disabled`); and one account per email whatever its case, since sign-in
    // lowercases the email it looks up (GoTrue does the same).
    r#"
ALTER TABLE users ADD COLUMN disabled_at TEXT;
CREATE INDEX users_disabled ON users(disabled_at) WHERE disabled_at IS NOT NULL;
CREATE UNIQUE INDEX users_email_lower ON users(lower(email));
"#,
];

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::MIGRATIONS;

    /// Migration 4 pulls a marker ahead of the newest message back to it, one in an empty
    /// conversation back to the clock, and leaves the others alone.
    #[test]
    fn markers_ahead_of_the_newest_message_are_pulled_back() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'O');
             INSERT INTO users VALUES ('d', 'o', 'd@o', 'x', 'D', 'dispatcher'), ('m', 'o', 'm@o', 'x', 'M', 'medic');
             INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES
               ('c1', 'o', 'm', '2026-01-01T00:00:00.000000+00:00'), ('c2', 'o', 'm', '2026-01-01T00:00:00.000000+00:00');
             INSERT INTO messages (id, org_id, conversation_id, sender_id, body, created_at) VALUES
               ('x', 'o', 'c1', 'm', 'hi', '2026-01-01T00:00:01.000000+00:00');
             INSERT INTO read_state VALUES
               ('d', 'c1', '2999-01-01T00:00:00.000000+00:00'), ('m', 'c1', '2025-01-01T00:00:00.000000+00:00'),
               ('d', 'c2', '2999-01-01T00:00:00.000000+00:00');",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[3]).unwrap();
        let marker = |user: &str, conv: &str| -> String {
            conn.query_row(
                "SELECT last_read_at FROM read_state WHERE user_id = ?1 AND conversation_id = ?2",
                [user, conv],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(marker("d", "c1"), "2026-01-01T00:00:01.000000+00:00");
        assert_eq!(marker("m", "c1"), "2025-01-01T00:00:00.000000+00:00");
        let empty = marker("d", "c2");
        let now = crate::clock::format_micros(crate::clock::now_micros());
        assert!(empty.len() == now.len() && empty <= now, "{empty} vs {now}");
        assert!(crate::clock::parse_micros(&empty).is_some(), "{empty}");
    }
}
