//! Staff administration on the database file: `switchboard-server org …` and
//! `switchboard-server user …` (README, "Set up your own centre"; ARCHITECTURE.md, "Staff
//! administration"). Nothing here is reachable over HTTP: whoever may run the binary on
//! the database file administers it.
//!
//! The commands open the database as the server does ([`Db::open`]: WAL, a busy timeout),
//! so they run safely beside a running server, which notices disabled users by itself
//! ([`disabled`]).

pub mod disabled;
pub mod secret;
pub mod store;
pub mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::auth::jwt::AppRole;
use crate::config::DEFAULT_DB_PATH;
use crate::db::Db;

/// The administration commands' usage, for `--help` and usage errors.
pub const USAGE: &str =
    "  switchboard-server org add NAME                (prints the new organisation's id)
  switchboard-server org list
  switchboard-server user add --org ORG --email EMAIL --name NAME --role dispatcher|medic
                     [--generate]
  switchboard-server user list --org ORG
  switchboard-server user passwd EMAIL [--generate]
  switchboard-server user disable EMAIL
  switchboard-server user enable EMAIL
                     (each also takes [--db data/switchboard.db]; ORG is an id or the
                     exact name; a password is typed twice at the terminal, read as two
                     lines from stdin when it is not a terminal, or made by --generate and
                     printed once; at least 12 characters)";

/// Why an administration command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The command line is wrong; the usage follows the message.
    #[error("{0}")]
    Usage(String),
    /// The input was refused (a bad or taken email, a short password, an unknown
    /// organisation or user); the message says why.
    #[error("{0}")]
    Refused(String),
    /// The database or the terminal failed.
    #[error("{0}")]
    Failed(#[from] crate::error::Error),
}

impl From<std::io::Error> for AdminError {
    fn from(e: std::io::Error) -> Self {
        AdminError::Failed(e.into())
    }
}

/// One administration command, as parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `org add NAME`.
    OrgAdd {
        /// The new organisation's name.
        name: String,
    },
    /// `org list`.
    OrgList,
    /// `user add --org ORG --email EMAIL --name NAME --role ROLE [--generate]`.
    UserAdd {
        /// Organisation id or exact name.
        org: String,
        /// The email as typed.
        email: String,
        /// The display name as typed.
        name: String,
        /// Dispatcher or medic.
        role: AppRole,
        /// Generate the password instead of reading it.
        generate: bool,
    },
    /// `user list --org ORG`.
    UserList {
        /// Organisation id or exact name.
        org: String,
    },
    /// `user passwd EMAIL [--generate]`.
    UserPasswd {
        /// Whose password.
        email: String,
        /// Generate the password instead of reading it.
        generate: bool,
    },
    /// `user disable EMAIL` (`disable` true) or `user enable EMAIL`.
    UserDisabled {
        /// Whose account.
        email: String,
        /// Disable (true) or enable.
        disable: bool,
    },
}

/// A parsed command line: the command and the database file it works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// What to do.
    pub command: Command,
    /// `--db FILE`, else the server's default.
    pub db: PathBuf,
}

/// Parses `org …` or `user …` (the whole argument list after the program name).
///
/// # Errors
/// [`AdminError::Usage`] naming what is missing, unknown or repeated.
pub fn parse(args: &[String]) -> Result<Invocation, AdminError> {
    let usage = |m: &str| AdminError::Usage(m.to_string());
    let mut positional = Vec::new();
    let mut flags: Vec<(&str, String)> = Vec::new();
    let mut generate = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--generate" => generate = true,
            flag @ ("--db" | "--org" | "--email" | "--name" | "--role") => {
                if flags.iter().any(|(f, _)| *f == flag) {
                    return Err(usage(&format!("{flag} is given twice")));
                }
                let value = it
                    .next()
                    .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                flags.push((flag, value.clone()));
            }
            other if other.starts_with("--") => {
                return Err(usage(&format!("unknown flag {other}")))
            }
            other => positional.push(other.to_string()),
        }
    }
    let mut take = |flag: &str| {
        flags
            .iter()
            .position(|(f, _)| *f == flag)
            .map(|at| flags.remove(at).1)
    };
    let db = take("--db").map_or_else(|| PathBuf::from(DEFAULT_DB_PATH), PathBuf::from);
    let words: Vec<&str> = positional.iter().map(String::as_str).collect();
    let command = match words.as_slice() {
        ["org", "add", name] => Command::OrgAdd {
            name: (*name).to_string(),
        },
        ["org", "add"] => return Err(usage("org add needs the organisation's NAME")),
        ["org", "list"] => Command::OrgList,
        ["user", "add"] => {
            let mut need =
                |flag: &str| take(flag).ok_or_else(|| usage(&format!("user add needs {flag}")));
            let (org, email, name, role) = (
                need("--org")?,
                need("--email")?,
                need("--name")?,
                need("--role")?,
            );
            let role = AppRole::parse(&role).ok_or_else(|| {
                usage(&format!("--role must be dispatcher or medic, not {role:?}"))
            })?;
            Command::UserAdd {
                org,
                email,
                name,
                role,
                generate,
            }
        }
        ["user", "list"] => Command::UserList {
            org: take("--org").ok_or_else(|| usage("user list needs --org"))?,
        },
        ["user", "passwd", email] => Command::UserPasswd {
            email: (*email).to_string(),
            generate,
        },
        ["user", action @ ("disable" | "enable"), email] => Command::UserDisabled {
            email: (*email).to_string(),
            disable: *action == "disable",
        },
        ["user", "passwd" | "disable" | "enable"] => {
            return Err(usage("which user? Give their EMAIL"))
        }
        _ => return Err(usage(&format!("unknown command: {}", words.join(" ")))),
    };
    if let Some((flag, _)) = flags.first() {
        return Err(usage(&format!("{flag} does not apply here")));
    }
    let takes_generate = matches!(
        command,
        Command::UserAdd { .. } | Command::UserPasswd { .. }
    );
    if generate && !takes_generate {
        return Err(usage("--generate does not apply here"));
    }
    Ok(Invocation { command, db })
}

/// Runs an administration command line (`org …` or `user …`) and prints what it did: the
/// result on stdout, errors on stderr. Exit status 0 on success, 1 when refused or failed,
/// 2 for a usage error.
pub async fn run_cli(args: &[String]) -> ExitCode {
    let outcome = match parse(args) {
        Ok(invocation) => run(invocation).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(AdminError::Usage(message)) => {
            eprintln!("switchboard-server: {message}\n\nusage:\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("switchboard-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the database, which must exist unless the command is `org add` (the first step
/// on a new one): a mistyped `--db` must not quietly make an empty database.
fn open(path: &Path, may_create: bool) -> Result<Db, AdminError> {
    if !may_create && !path.exists() {
        return Err(AdminError::Refused(format!(
            "there is no database at {} (give --db FILE, or start with `org add NAME`)",
            path.display()
        )));
    }
    Ok(Db::open(path)?)
}

fn new_password(generate: bool) -> Result<(String, bool), AdminError> {
    if generate {
        Ok((secret::generate(), true))
    } else {
        Ok((secret::read_twice()?, false))
    }
}

fn print_generated(password: &str) {
    println!("Password (shown only this once; hand it over in person): {password}");
}

async fn run(invocation: Invocation) -> Result<(), AdminError> {
    let may_create = matches!(invocation.command, Command::OrgAdd { .. });
    let db = open(&invocation.db, may_create)?;
    match invocation.command {
        Command::OrgAdd { name } => {
            let org = store::add_org(&db, &name).await?;
            // The id alone on stdout, for `ORG=$(switchboard-server org add …)`.
            println!("{}", org.id);
            eprintln!("Added the organisation {:?} ({}).", org.name, org.id);
        }
        Command::OrgList => {
            let orgs = store::list_orgs(&db).await?;
            if orgs.is_empty() {
                println!("No organisations yet: add one with `switchboard-server org add NAME`.");
            } else {
                let rows = orgs
                    .iter()
                    .map(|o| {
                        [
                            o.id.clone(),
                            o.name.clone(),
                            o.dispatchers.to_string(),
                            o.medics.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>();
                print_table(["ID", "NAME", "DISPATCHERS", "MEDICS"], &rows);
            }
        }
        Command::UserAdd {
            org,
            email,
            name,
            role,
            generate,
        } => {
            // Checked before a password is asked for, so a typo costs no typing.
            validate::email(&email).map_err(AdminError::Refused)?;
            validate::name("name", &name).map_err(AdminError::Refused)?;
            let (password, generated) = new_password(generate)?;
            let new = store::NewUser {
                org,
                email,
                display_name: name,
                role,
                password,
            };
            let user = store::add_user(&db, new.clone()).await?;
            println!(
                "Added the {} {:?} <{}> to {} (user id {}).",
                user.role.as_str(),
                user.display_name,
                user.email,
                user.org_name,
                user.id
            );
            if generated {
                print_generated(&new.password);
            }
        }
        Command::UserList { org } => {
            let (org, users) = store::list_users(&db, &org).await?;
            if users.is_empty() {
                println!("{} has no users yet.", org.name);
            } else {
                let rows = users
                    .iter()
                    .map(|u| {
                        [
                            u.email.clone(),
                            u.role.as_str().to_string(),
                            match &u.disabled_at {
                                Some(at) => format!("disabled since {at}"),
                                None => "active".to_string(),
                            },
                            u.display_name.clone(),
                            u.id.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                print_table(["EMAIL", "ROLE", "STATUS", "NAME", "ID"], &rows);
            }
        }
        Command::UserPasswd { email, generate } => {
            let (password, generated) = new_password(generate)?;
            let user = store::set_password(&db, &email, &password).await?;
            println!(
                "Set a new password for {} ({}, {}). Sessions already signed in continue; \
                 `user disable` ends them.",
                user.email, user.display_name, user.org_name
            );
            if generated {
                print_generated(&password);
            }
        }
        Command::UserDisabled { email, disable } => {
            let done = store::set_disabled(&db, &email, disable).await?;
            let user = &done.user;
            let who = format!("{} ({}, {})", user.email, user.display_name, user.org_name);
            match (disable, done.unchanged) {
                (true, false) => println!(
                    "Disabled {who}: they cannot sign in; {} session(s) ended. A running \
                     server closes their connections within a second.",
                    done.sessions_revoked
                ),
                (true, true) => println!(
                    "{who} was disabled already (since {}); {} session(s) ended.",
                    user.disabled_at.as_deref().unwrap_or("?"),
                    done.sessions_revoked
                ),
                (false, false) => println!("Enabled {who}: they can sign in again."),
                (false, true) => println!("{who} is not disabled; nothing changed."),
            }
        }
    }
    Ok(())
}

/// Prints rows under a header, each column as wide as its widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_every_command() {
        let default = PathBuf::from(DEFAULT_DB_PATH);
        let ok = |text: &str| parse(&args(text)).unwrap();
        assert_eq!(
            ok("org add Harbor"),
            Invocation {
                command: Command::OrgAdd {
                    name: "Harbor".into()
                },
                db: default.clone()
            }
        );
        assert_eq!(ok("org list --db x.db").db, PathBuf::from("x.db"));
        assert_eq!(
            ok("user add --org O --email a@b.cd --name N --role medic --generate").command,
            Command::UserAdd {
                org: "O".into(),
                email: "a@b.cd".into(),
                name: "N".into(),
                role: AppRole::Medic,
                generate: true
            }
        );
        assert_eq!(
            ok("user list --org O").command,
            Command::UserList { org: "O".into() }
        );
        assert_eq!(
            ok("user passwd a@b.cd").command,
            Command::UserPasswd {
                email: "a@b.cd".into(),
                generate: false
            }
        );
        assert_eq!(
            ok("user --db y.db enable a@b.cd"),
            Invocation {
                command: Command::UserDisabled {
                    email: "a@b.cd".into(),
                    disable: false
                },
                db: PathBuf::from("y.db")
            }
        );
    }

    #[test]
    fn refuses_wrong_command_lines_with_a_reason() {
        for (text, says) in [
            ("org add", "NAME"),
            ("org remove x", "unknown command"),
            ("user add --org O --email e --name N", "--role"),
            (
                "user add --org O --email e --name N --role boss",
                "dispatcher or medic",
            ),
            ("user list", "--org"),
            ("user list --org O --org P", "twice"),
            ("user disable", "EMAIL"),
            ("user enable a@b.cd --generate", "--generate"),
            ("org list --email a@b.cd", "does not apply"),
            ("org list --db", "needs a value"),
            ("user list --org O --force", "unknown flag"),
        ] {
            match parse(&args(text)) {
                Err(AdminError::Usage(m)) => assert!(m.contains(says), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
