//! What the administration commands do to the database: organisations and staff accounts,
//! each write in one transaction of [`Db::write`] (SQLite's busy timeout, so they wait for
//! a running server's writer rather than fail).

use rusqlite::{params, Connection, OptionalExtension};

use super::validate;
use super::AdminError;
use crate::auth::jwt::AppRole;
use crate::auth::password;
use crate::clock::{format_micros, now_micros};
use crate::db::Db;

/// An organisation, with how many staff accounts of each role it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// UUID, the `org_id` of its rows and tokens.
    pub id: String,
    /// Display name (unique, ignoring case).
    pub name: String,
    /// Dispatcher accounts, disabled ones included.
    pub dispatchers: i64,
    /// Medic accounts, disabled ones included.
    pub medics: i64,
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID, the token's `sub`.
    pub id: String,
    /// The organisation's id.
    pub org_id: String,
    /// The organisation's name.
    pub org_name: String,
    /// Lowercase; what sign-in matches.
    pub email: String,
    /// The name shown in the app.
    pub display_name: String,
    /// Dispatcher or medic.
    pub role: AppRole,
    /// When it was disabled (the server clock's RFC 3339 form), or `None` when active.
    pub disabled_at: Option<String>,
}

/// A staff account to create ([`add_user`]); every field as the administrator typed it.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The organisation, by id or exact name.
    pub org: String,
    /// The email, checked by [`validate::email`].
    pub email: String,
    /// The display name, checked by [`validate::name`].
    pub display_name: String,
    /// Dispatcher or medic.
    pub role: AppRole,
    /// The password, checked by [`validate::password`].
    pub password: String,
}

/// What [`set_disabled`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabling {
    /// The account after the change.
    pub user: User,
    /// Whether the account was already in the asked state.
    pub unchanged: bool,
    /// Login sessions ended (disabling only): their refresh tokens stop working.
    pub sessions_revoked: usize,
}

const ORG_SELECT: &str = "SELECT o.id, o.name, \
       (SELECT count(*) FROM users u WHERE u.org_id = o.id AND u.role = 'dispatcher'), \
       (SELECT count(*) FROM users u WHERE u.org_id = o.id AND u.role = 'medic') \
     FROM orgs o";

const USER_SELECT: &str =
    "SELECT u.id, u.org_id, o.name, u.email, u.display_name, u.role, u.disabled_at \
     FROM users u JOIN orgs o ON o.id = u.org_id";

fn org_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org {
        id: row.get(0)?,
        name: row.get(1)?,
        dispatchers: row.get(2)?,
        medics: row.get(3)?,
    })
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(5)?;
    Ok(User {
        id: row.get(0)?,
        org_id: row.get(1)?,
        org_name: row.get(2)?,
        email: row.get(3)?,
        display_name: row.get(4)?,
        role: AppRole::parse(&role).unwrap_or(AppRole::Medic),
        disabled_at: row.get(6)?,
    })
}

fn orgs(conn: &Connection) -> rusqlite::Result<Vec<Org>> {
    let mut statement = conn.prepare(&format!("{ORG_SELECT} ORDER BY o.name, o.id"))?;
    let rows = statement
        .query_map([], org_from_row)?
        .collect::<rusqlite::Result<Vec<Org>>>()?;
    Ok(rows)
}

/// The organisation whose id, or else whose exact name, is `org`; else the refusal.
fn org_named(conn: &Connection, org: &str) -> rusqlite::Result<Result<Org, AdminError>> {
    let all = orgs(conn)?;
    Ok(all
        .iter()
        .find(|o| o.id == org)
        .or_else(|| all.iter().find(|o| o.name == org))
        .cloned()
        .ok_or_else(|| {
            AdminError::Refused(format!(
                "no organisation has the id or name {org:?} (`org list` shows them)"
            ))
        }))
}

/// The account whose email is `email`, ignoring case and surrounding spaces; else the
/// refusal.
fn user_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Result<User, AdminError>> {
    let wanted = email.trim().to_lowercase();
    Ok(conn
        .query_row(
            &format!("{USER_SELECT} WHERE lower(u.email) = ?1"),
            [&wanted],
            user_from_row,
        )
        .optional()?
        .ok_or_else(|| AdminError::Refused(format!("no user has the email {wanted:?}"))))
}

/// Creates an organisation named `name` (trimmed; not the name of another, ignoring case).
///
/// # Errors
/// [`AdminError::Refused`] for a bad or taken name; a database error.
pub async fn add_org(db: &Db, name: &str) -> Result<Org, AdminError> {
    let name = validate::name("organisation name", name).map_err(AdminError::Refused)?;
    db.write(move |tx, _| {
        let folded = name.to_lowercase();
        if let Some(taken) = orgs(tx)?
            .into_iter()
            .find(|o| o.name.to_lowercase() == folded)
        {
            return Ok(Err(AdminError::Refused(format!(
                "an organisation named {:?} exists already ({})",
                taken.name, taken.id
            ))));
        }
        let id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO orgs (id, name) VALUES (?1, ?2)",
            params![id, name],
        )?;
        Ok(Ok(Org {
            id,
            name,
            dispatchers: 0,
            medics: 0,
        }))
    })
    .await?
}

/// Every organisation, by name.
///
/// # Errors
/// A database error.
pub async fn list_orgs(db: &Db) -> Result<Vec<Org>, AdminError> {
    Ok(db.read(|conn| Ok(orgs(conn)?)).await?)
}

/// Creates a staff account. The password is hashed with the server's Argon2id parameters
/// ([`password::hash`]) before the transaction, so the writer lock is never held for it.
///
/// # Errors
/// [`AdminError::Refused`] for an unknown organisation, a bad email, name or password, or
/// an email another account has (ignoring case); a database error.
pub async fn add_user(db: &Db, new: NewUser) -> Result<User, AdminError> {
    let email = validate::email(&new.email).map_err(AdminError::Refused)?;
    let display_name = validate::name("name", &new.display_name).map_err(AdminError::Refused)?;
    validate::password(&new.password).map_err(AdminError::Refused)?;
    let hash = password::hash(&new.password)?;
    let (org, role) = (new.org, new.role);
    db.write(move |tx, _| {
        let org = match org_named(tx, &org)? {
            Ok(org) => org,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Ok(taken) = user_by_email(tx, &email)? {
            return Ok(Err(AdminError::Refused(format!(
                "the email {email:?} belongs to an account already ({}, {})",
                taken.display_name, taken.org_name
            ))));
        }
        let id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO users (id, org_id, email, password_hash, display_name, role) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, org.id, email, hash, display_name, role.as_str()],
        )?;
        Ok(Ok(User {
            id,
            org_id: org.id,
            org_name: org.name,
            email,
            display_name,
            role,
            disabled_at: None,
        }))
    })
    .await?
}

/// The accounts of the organisation `org` (id or exact name): dispatchers first, then by
/// name.
///
/// # Errors
/// [`AdminError::Refused`] for an unknown organisation; a database error.
pub async fn list_users(db: &Db, org: &str) -> Result<(Org, Vec<User>), AdminError> {
    let org = org.to_string();
    db.read(move |conn| {
        let org = match org_named(conn, &org)? {
            Ok(org) => org,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut statement = conn.prepare(&format!(
            "{USER_SELECT} WHERE u.org_id = ?1 ORDER BY u.role, u.display_name, u.email"
        ))?;
        let users = statement
            .query_map([&org.id], user_from_row)?
            .collect::<rusqlite::Result<Vec<User>>>()?;
        Ok(Ok((org, users)))
    })
    .await?
}

/// Sets a new password on the account with this email. Its sessions stay: to cut a person
/// off, disable the account ([`set_disabled`]).
///
/// # Errors
/// [`AdminError::Refused`] for an unknown email or a bad password; a database error.
pub async fn set_password(db: &Db, email: &str, new_password: &str) -> Result<User, AdminError> {
    validate::password(new_password).map_err(AdminError::Refused)?;
    let hash = password::hash(new_password)?;
    let email = email.to_string();
    db.write(move |tx, _| {
        let user = match user_by_email(tx, &email)? {
            Ok(user) => user,
            Err(refused) => return Ok(Err(refused)),
        };
        tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user.id, hash],
        )?;
        Ok(Ok(user))
    })
    .await?
}

/// Disables (`disabled` true) or enables the account with this email. Disabling stamps
/// `disabled_at` and ends every login session of the account in the same transaction, so
/// no refresh token of it works after the commit; a running server closes its sockets and
/// refuses its access tokens at its next poll ([`super::disabled`]). Enabling clears the
/// stamp; ended sessions stay ended (the person signs in again).
///
/// # Errors
/// [`AdminError::Refused`] for an unknown email; a database error.
pub async fn set_disabled(db: &Db, email: &str, disabled: bool) -> Result<Disabling, AdminError> {
    let email = email.to_string();
    db.write(move |tx, _| {
        let mut user = match user_by_email(tx, &email)? {
            Ok(user) => user,
            Err(refused) => return Ok(Err(refused)),
        };
        let unchanged = user.disabled_at.is_some() == disabled;
        let mut sessions_revoked = 0;
        if disabled {
            if !unchanged {
                let now = format_micros(now_micros());
                tx.execute(
                    "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
                    params![user.id, now],
                )?;
                user.disabled_at = Some(now);
            }
            // Also when already disabled: a session opened before is ended for sure.
            sessions_revoked = tx.execute(
                "UPDATE sessions SET revoked = 1 WHERE user_id = ?1 AND revoked = 0",
                [&user.id],
            )?;
        } else if !unchanged {
            tx.execute(
                "UPDATE users SET disabled_at = NULL WHERE id = ?1",
                [&user.id],
            )?;
            user.disabled_at = None;
        }
        Ok(Ok(Disabling {
            user,
            unchanged,
            sessions_revoked,
        }))
    })
    .await?
}
