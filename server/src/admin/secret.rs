//! Where a new password comes from: typed twice at the terminal without echo (rpassword,
//! which reads `/dev/tty`), two equal lines on stdin when stdin is not a terminal (scripts,
//! a password manager's pipe), or generated ([`generate`]) and printed once.

use std::io::{BufRead, IsTerminal};

use rand::Rng;

use super::AdminError;

/// The generated passwords' alphabet: lowercase letters and digits without the look-alikes
/// `0 o 1 i l`, so a password read out or copied by hand survives.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Groups of [`GROUP`] characters in a generated password.
const GROUPS: usize = 5;

/// Characters per group.
const GROUP: usize = 5;

/// A random password: 5 groups of 5 characters of a 31-character alphabet joined by `-`
/// (29 characters, about 124 bits), from the thread's CSPRNG (`rand::rng`, ChaCha seeded by
/// the operating system).
pub fn generate() -> String {
    let mut rng = rand::rng();
    (0..GROUPS)
        .map(|_| {
            (0..GROUP)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads a new password twice: at the terminal without echo when stdin is one, else as
/// two lines of stdin.
///
/// # Errors
/// [`AdminError::Refused`] when the two differ or stdin ends early; an I/O error.
pub fn read_twice() -> Result<String, AdminError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let second = rpassword::prompt_password("The same again: ")?;
        same(first, second)
    } else {
        two_lines(stdin.lock())
    }
}

/// The password of the first two lines of `input`, which must be equal; each line is taken
/// whole but for its line ending (`\n` or `\r\n`).
///
/// # Errors
/// [`AdminError::Refused`] when the lines differ or there are fewer than two; an I/O error.
pub fn two_lines(mut input: impl BufRead) -> Result<String, AdminError> {
    let mut line = || -> Result<String, AdminError> {
        let mut text = String::new();
        if input.read_line(&mut text)? == 0 {
            return Err(AdminError::Refused(
                "stdin ended before two password lines (give the password twice, one per \
                 line, or use --generate)"
                    .into(),
            ));
        }
        let text = text.strip_suffix('\n').unwrap_or(&text);
        Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
    };
    let first = line()?;
    let second = line()?;
    same(first, second)
}

fn same(first: String, second: String) -> Result<String, AdminError> {
    if first == second {
        Ok(first)
    } else {
        Err(AdminError::Refused(
            "the two passwords differ; nothing was changed".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_equal_lines_make_the_password() {
        let read = |text: &str| two_lines(text.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(
            read("correct horse battery\ncorrect horse battery\n").as_deref(),
            Ok("correct horse battery")
        );
        assert_eq!(
            read(" spaced out pw \r\n spaced out pw \r\nextra").as_deref(),
            Ok(" spaced out pw "),
            "spaces kept, only the line ending goes"
        );
        assert_eq!(
            read("no newline at end\nno newline at end").as_deref(),
            Ok("no newline at end")
        );
        assert!(read("one\ntwo\n").unwrap_err().contains("differ"));
        assert!(read("only one line\n")
            .unwrap_err()
            .contains("two password lines"));
        assert!(read("").is_err());
    }

    #[test]
    fn generated_passwords_are_long_unambiguous_and_different() {
        let a = generate();
        assert_eq!(a.len(), GROUPS * GROUP + GROUPS - 1);
        assert!(a
            .split('-')
            .all(|g| g.len() == GROUP && g.bytes().all(|b| ALPHABET.contains(&b))));
        assert!(crate::admin::validate::password(&a).is_ok());
        assert_ne!(a, generate());
    }
}
