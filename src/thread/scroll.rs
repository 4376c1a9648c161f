//! The thread's scroll rule, as pure arithmetic: follow new rows only when the reader is
//! already within 100 px of the bottom.

/// Readers this close to the bottom are following the conversation.
pub const FOLLOW_THRESHOLD_PX: f64 = 100.0;

/// Pixels between the bottom of the viewport and the bottom of the content.
pub fn distance_from_bottom(scroll_height: f64, scroll_top: f64, client_height: f64) -> f64 {
    (scroll_height - scroll_top - client_height).max(0.0)
}

/// Whether a reader at `distance` px from the bottom follows new rows.
pub fn follows(distance: f64) -> bool {
    distance <= FOLLOW_THRESHOLD_PX
}

/// Whether a view whose box changed size (no rows added: a neighbour grew or shrank) keeps
/// the reader at the bottom: yes if they were following, measured before the change.
pub fn keeps_bottom_on_resize(distance_before: f64) -> bool {
    follows(distance_before)
}

/// What to do when rows arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Scroll to the bottom after the rows render.
    FollowToBottom,
    /// Leave the view where it is; show "N new messages ↓".
    KeepPosition {
        /// Unseen rows below the view.
        unseen: usize,
    },
}

/// Decides from the distance measured before the rows rendered. Own sends always follow.
pub fn on_new_rows(
    distance_before: f64,
    own_send: bool,
    new_rows: usize,
    unseen_before: usize,
) -> Decision {
    if own_send || follows(distance_before) {
        Decision::FollowToBottom
    } else {
        Decision::KeepPosition {
            unseen: unseen_before + new_rows,
        }
    }
}

/// How many messages of the live window arrived since it was last counted: `times` are
/// its rows' `created_at`s (any order), `counted` the newest one counted before (`None`:
/// nothing counted yet, so nothing is an arrival). Rows the window shed or that page in
/// above are older than that and never count.
pub fn count_arrivals(counted: Option<&str>, times: &[&str]) -> usize {
    counted.map_or(0, |newest| times.iter().filter(|t| **t > newest).count())
}

/// The "new messages" count after `arrived` messages came to the live window, whatever
/// the view shows: they are seen (the count stays) only by a reader who follows them,
/// i.e. the newest rows are shown (`in_history` false) and the reader was within the
/// follow threshold before they rendered, or sent them.
pub fn unseen_after(
    distance_before: f64,
    in_history: bool,
    own_send: bool,
    arrived: usize,
    unseen_before: usize,
) -> usize {
    let followed = !in_history
        && on_new_rows(distance_before, own_send, arrived, unseen_before)
            == Decision::FollowToBottom;
    if followed {
        unseen_before
    } else {
        unseen_before + arrived
    }
}

/// How many rows of `new_ids` are appended after the last row of `old_ids`.
pub fn appended_rows(old_ids: &[String], new_ids: &[String]) -> usize {
    match old_ids.last() {
        None => 0,
        Some(last) => match new_ids.iter().position(|id| id == last) {
            Some(at) => new_ids.len() - at - 1,
            // The old tail is gone (another page): everything is new.
            None => new_ids.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_100_px() {
        assert!(follows(100.0));
        assert!(!follows(101.0));
        assert_eq!(on_new_rows(100.0, false, 1, 0), Decision::FollowToBottom);
        assert_eq!(
            on_new_rows(101.0, false, 1, 0),
            Decision::KeepPosition { unseen: 1 }
        );
    }

    #[test]
    fn a_resized_view_keeps_only_a_following_reader_at_the_bottom() {
        assert!(keeps_bottom_on_resize(0.0));
        assert!(keeps_bottom_on_resize(100.0));
        assert!(
            !keeps_bottom_on_resize(101.0),
            "a reader in history stays put"
        );
    }

    #[test]
    fn own_sends_always_follow_and_unseen_accumulates() {
        assert_eq!(on_new_rows(5_000.0, true, 1, 3), Decision::FollowToBottom);
        assert_eq!(
            on_new_rows(300.0, false, 2, 3),
            Decision::KeepPosition { unseen: 5 }
        );
    }

    #[test]
    fn arrivals_count_by_the_live_window_whatever_is_shown() {
        assert_eq!(
            count_arrivals(None, &["t1", "t2"]),
            0,
            "the first answer is not news"
        );
        assert_eq!(count_arrivals(Some("t2"), &["t1", "t2", "t3", "t4"]), 2);
        // The window shed its oldest rows and two more came: only those two.
        assert_eq!(count_arrivals(Some("t4"), &["t3", "t4", "t5", "t6"]), 2);
        assert_eq!(count_arrivals(Some("t6"), &["t5", "t6"]), 0);
    }

    #[test]
    fn a_reader_in_history_is_told_of_every_arrival() {
        // Climbed into older pages: the newest rows are out of the DOM, however close to
        // the bottom of what is shown the reader is.
        assert_eq!(unseen_after(0.0, true, false, 3, 2), 5);
        assert_eq!(
            unseen_after(0.0, true, true, 1, 0),
            1,
            "not followed: below the view"
        );
        // At the newest rows the 100 px rule decides, and own sends are followed.
        assert_eq!(unseen_after(100.0, false, false, 3, 0), 0);
        assert_eq!(unseen_after(101.0, false, false, 3, 1), 4);
        assert_eq!(unseen_after(5_000.0, false, true, 1, 1), 1);
    }

    #[test]
    fn distance_arithmetic() {
        assert_eq!(distance_from_bottom(2_000.0, 1_500.0, 400.0), 100.0);
        assert_eq!(
            distance_from_bottom(300.0, 0.0, 400.0),
            0.0,
            "short content is at the bottom"
        );
    }

    #[test]
    fn counts_appended_rows() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            appended_rows(&ids(&["a", "b"]), &ids(&["a", "b", "c", "d"])),
            2
        );
        assert_eq!(appended_rows(&ids(&["a", "b"]), &ids(&["a", "b"])), 0);
        assert_eq!(
            appended_rows(&[], &ids(&["a"])),
            0,
            "the first load is not 'new'"
        );
        assert_eq!(appended_rows(&ids(&["x"]), &ids(&["a", "b"])), 2);
    }
}
