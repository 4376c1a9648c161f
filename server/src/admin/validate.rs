//! The rules staff input must pass before the administration commands store it: emails,
//! names and passwords. Pure functions; each error is a sentence for the administrator.

/// Fewest characters (Unicode scalar values) of a staff password.
///
/// NIST SP 800-63B (5.1.1.2) asks at least 8 of a memorized secret a user chooses; these
/// accounts read medical communications of a whole organisation and are reachable from the
/// internet, so 12, as OWASP's ASVS 4.0 (2.1.1) asks of such accounts. No composition rules
/// (NIST: they do not help); a long passphrase is the advice.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Most characters of a password: NIST asks to allow at least 64; Argon2 takes any length,
/// but a bound keeps a pasted file out of the hash.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Most characters of an email address: RFC 5321's limit on a forward path (256 octets
/// with the angle brackets), the bound GoTrue applies too.
pub const MAX_EMAIL_CHARS: usize = 254;

/// Most characters of a display name or an organisation's name.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks an email address and returns the form it is stored and signed in with: trimmed
/// and lowercased (sign-in lowercases what it looks up, `auth::token`).
///
/// Accepted: `local@domain` with at most [`MAX_EMAIL_CHARS`] characters, all ASCII; the
/// local part 1–64 characters of letters, digits and ``!#$%&'*+/=?^_`{|}~-``, in dot-separated
/// runs (no leading, trailing or doubled dot: RFC 5322's dot-atom); the domain at least two
/// dot-separated labels of 1–63 letters, digits or hyphens, none starting or ending with a
/// hyphen, the last not all digits. Refused: quoted local parts, comments, IP-address
/// domains and non-ASCII (internationalised) addresses, which mail systems for staff
/// rarely use and which are easy to mistype into a look-alike.
///
/// # Errors
/// A sentence saying what is wrong with the address.
pub fn email(input: &str) -> Result<String, String> {
    let email = input.trim().to_lowercase();
    if email.is_empty() {
        return Err("the email is empty".into());
    }
    if !email.is_ascii() {
        return Err(format!(
            "{email:?}: only ASCII email addresses are accepted"
        ));
    }
    if email.len() > MAX_EMAIL_CHARS {
        return Err(format!(
            "the email is longer than {MAX_EMAIL_CHARS} characters"
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(format!("{email:?} has no @"));
    };
    if domain.contains('@') {
        return Err(format!("{email:?} has more than one @"));
    }
    local_part(local).map_err(|why| format!("{email:?}: {why}"))?;
    domain_part(domain).map_err(|why| format!("{email:?}: {why}"))?;
    Ok(email)
}

fn local_part(local: &str) -> Result<(), String> {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    if local.is_empty() || local.len() > 64 {
        return Err("the part before @ must have 1 to 64 characters".into());
    }
    if local.split('.').any(str::is_empty) {
        return Err("a dot before @ may not start, end or follow another dot".into());
    }
    match local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || SPECIALS.contains(*c)))
    {
        Some(c) => Err(format!("{c:?} is not allowed before @")),
        None => Ok(()),
    }
}

fn domain_part(domain: &str) -> Result<(), String> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs a dot (e.g. example.org)".into());
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("each part of the domain must have 1 to 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part of the domain may not start or end with a hyphen".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("{c:?} is not allowed in the domain"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the domain may not be an IP address".into());
    }
    Ok(())
}

/// Checks a display name or an organisation's name (`what` names it in the error) and
/// returns it trimmed: 1–[`MAX_NAME_CHARS`] characters, no control characters.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn name(what: &str, input: &str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the {what} is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the {what} contains a control character"));
    }
    Ok(name.to_string())
}

/// Checks a new password's length: [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`]
/// characters, taken as typed (NIST: no truncation, no rewriting; spaces count).
///
/// # Errors
/// A sentence saying what is wrong.
pub fn password(input: &str) -> Result<(), String> {
    let chars = input.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password has {chars} characters; at least {MIN_PASSWORD_CHARS} are needed \
             (a few words make a good one), or use --generate"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "the password is longer than {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if input.chars().any(|c| c.is_control()) {
        return Err("the password contains a control character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            email("  Dana.Ruiz+dispatch@Harbor-EMS.example ").as_deref(),
            Ok("dana.ruiz+dispatch@harbor-ems.example")
        );
        assert_eq!(email("o'neil@a.bc").as_deref(), Ok("o'neil@a.bc"));
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.c",
            "a@b@c.d",
            "@b.c",
            ".a@b.c",
            "a.@b.c",
            "a..b@c.d",
            "a b@c.d",
            "\"a\"@b.c",
            "a@-b.c",
            "a@b-.c",
            "a@b..c",
            "a@b.c.",
            "a@b_c.d",
            "a@[10.0.0.1]",
            "a@10.0.0.1",
            "jos\u{e9}@b.c",
            "a@b.c\u{200b}",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
        let local = "a".repeat(64);
        assert!(email(&format!("{local}@b.cd")).is_ok());
        assert!(email(&format!("{local}a@b.cd")).is_err());
        let long = format!("a@{}.cd", vec!["b".repeat(63); 4].join("."));
        assert!(long.len() > MAX_EMAIL_CHARS);
        assert!(email(&long).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Dana Ruiz ").as_deref(), Ok("Dana Ruiz"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", "a\tb").is_err());
        assert!(name("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(name("name", &"é".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(password("eleven chars").is_ok(), "12 with the space");
        assert!(password("elevenchars").is_err());
        assert!(password("ééééééééééé").is_err(), "characters, not bytes");
        assert!(password(&"x".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(password("twelve chars\u{7}").is_err());
    }
}
