//! Which of a thread's messages stay loaded: the window's floor (its oldest row).
//!
//! Refetches load everything from the floor on, so while the reader is scrolled up a new
//! message extends the window rather than pushing the top row out from under them. Only
//! while the reader follows the bottom, where nothing they look at can move, does the
//! window shed old rows, keeping each refetch to about one page.

/// Rows a followed thread may grow past one page before it sheds the oldest.
pub const FOLLOW_SLACK: usize = 10;

/// A window's floor: load from `created_at` on; `older` says whether history goes further
/// back (the first page came back full, or rows were shed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// `created_at` of the oldest loaded row.
    pub created_at: String,
    /// Whether older messages exist beyond it.
    pub older: bool,
}

/// The floor to use after an answer, or `None` to keep the current one. `newest_first` are
/// the answer's `created_at`s, newest first; `limit` the page size the answer was asked for.
pub fn next_floor(
    newest_first: &[&str],
    has_floor: bool,
    following: bool,
    page: usize,
    limit: usize,
) -> Option<Floor> {
    if !has_floor {
        return newest_first.last().map(|oldest| Floor {
            created_at: oldest.to_string(),
            older: newest_first.len() >= limit,
        });
    }
    if following && newest_first.len() > page + FOLLOW_SLACK {
        return newest_first.get(page - 1).map(|at| Floor {
            created_at: at.to_string(),
            older: true,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> Vec<String> {
        // Newest first.
        (0..n).rev().map(|i| format!("t{i:04}")).collect()
    }

    fn floor(rows: &[String], has: bool, following: bool) -> Option<Floor> {
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        next_floor(&refs, has, following, 50, 50)
    }

    #[test]
    fn the_first_answer_sets_the_floor_at_its_oldest_row() {
        let full = times(50);
        assert_eq!(
            floor(&full, false, true),
            Some(Floor {
                created_at: "t0000".into(),
                older: true
            })
        );
        let short = times(12);
        assert_eq!(floor(&short, false, false).map(|f| f.older), Some(false));
        assert_eq!(
            floor(&[], false, true),
            None,
            "nothing loaded, nothing to hold"
        );
    }

    #[test]
    fn a_scrolled_up_reader_keeps_the_floor_however_long_the_thread_grows() {
        assert_eq!(floor(&times(500), true, false), None);
    }

    #[test]
    fn a_following_reader_sheds_rows_past_the_slack() {
        assert_eq!(floor(&times(50 + FOLLOW_SLACK), true, true), None);
        let rows = times(50 + FOLLOW_SLACK + 1);
        assert_eq!(
            floor(&rows, true, true),
            Some(Floor {
                created_at: rows[49].clone(),
                older: true
            }),
            "back to the newest page"
        );
    }
}
