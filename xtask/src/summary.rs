//! Counting results from the runners' own closing lines.

/// Passed and failed counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Tests or checks that passed.
    pub passed: u64,
    /// Tests or checks that failed.
    pub failed: u64,
}

impl Tally {
    /// Adds another tally.
    pub fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

fn number_before(text: &str, word: &str) -> Option<u64> {
    let idx = text.find(word)?;
    text[..idx].split_whitespace().last()?.parse().ok()
}

/// The plain `N passed, M failed` line of our own scripts.
fn plain_line(line: &str) -> Option<(u64, u64)> {
    let (p, f) = line.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.parse().ok()?, f.parse().ok()?))
}

/// Sums cargo's `test result: … N passed; M failed` lines and node's `# pass N` / `# fail N`.
pub fn parse(output: &str) -> Tally {
    let mut tally = Tally::default();
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result:") {
            tally.passed += number_before(rest, " passed").unwrap_or(0);
            tally.failed += number_before(rest, " failed").unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("# pass ") {
            tally.passed += n.trim().parse().unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("# fail ") {
            tally.failed += n.trim().parse().unwrap_or(0);
        } else if let Some((p, f)) = plain_line(line) {
            tally.passed += p;
            tally.failed += f;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cargo_and_node_lines() {
        let out = "running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored\n\
                   test result: FAILED. 10 passed; 2 failed; 1 ignored; 0 measured\n# tests 4\n# pass 3\n# fail 1\n";
        assert_eq!(
            parse(out),
            Tally {
                passed: 16,
                failed: 3
            }
        );
        assert_eq!(parse("nothing here"), Tally::default());
        assert_eq!(
            parse("12 passed, 1 failed\n"),
            Tally {
                passed: 12,
                failed: 1
            }
        );
    }
}
