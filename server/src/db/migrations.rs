//! Schema migrations, applied in order at start and recorded in `user_version`.

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
];
