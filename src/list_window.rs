//! Which rows of a long list are in the DOM (windowing): the rows in view plus an overscan
//! above and below, as a pure range, so a list of thousands of conversations costs what is
//! on screen.

use std::ops::Range;

/// Rows rendered above and below the visible ones. Generous on purpose: scrolling by a
/// screen or two never shows a blank, and a list of a few dozen (the usual working set, the
/// demo's 40) is rendered whole; a screenful plus twice this stays under 100 rows.
pub const OVERSCAN: usize = 40;

/// The rows to render, `[start, end)` of `total` rows of `row_px` px each, for a viewport
/// `viewport_px` px tall scrolled to `scroll_top` px, with `overscan` rows more on each side.
/// A zero or unknown row height renders from the top as if rows were 1 px (never all of a
/// huge list).
pub fn rendered(
    scroll_top: f64,
    viewport_px: f64,
    row_px: f64,
    total: usize,
    overscan: usize,
) -> Range<usize> {
    let row = if row_px.is_finite() && row_px > 0.0 {
        row_px
    } else {
        1.0
    };
    let first_visible = (scroll_top.max(0.0) / row).floor() as usize;
    let visible = (viewport_px.max(0.0) / row).ceil() as usize + 1;
    let start = first_visible.saturating_sub(overscan).min(total);
    let end = first_visible
        .saturating_add(visible)
        .saturating_add(overscan)
        .min(total)
        .max(start);
    start..end
}

/// The `scrollTop` that brings row `index` (of `row_px` px) fully into a viewport
/// `viewport_px` tall now scrolled to `scroll_top`, moving as little as possible; `None` if
/// it is in view already.
pub fn reveal(index: usize, scroll_top: f64, viewport_px: f64, row_px: f64) -> Option<f64> {
    let top = index as f64 * row_px;
    let bottom = top + row_px;
    if top < scroll_top {
        Some(top)
    } else if bottom > scroll_top + viewport_px {
        Some((bottom - viewport_px).max(0.0))
    } else {
        None
    }
}

/// The height in whole CSS pixels of a spacer standing for `rows` rows of `row_px` each.
/// Whole pixels (off by at most half a pixel for the whole run) because printing an `f64`
/// into the style would pull `core`'s float formatting, about 12 KB, into the wasm.
pub fn spacer_px(rows: usize, row_px: f64) -> i64 {
    (rows as f64 * row_px).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spacer_is_its_rows_in_whole_pixels() {
        assert_eq!(spacer_px(0, 61.5), 0);
        assert_eq!(spacer_px(3, 61.5), 185);
        assert_eq!(spacer_px(2_000, 61.25), 122_500);
    }

    #[test]
    fn renders_the_rows_in_view_and_the_overscan_only() {
        // 2,000 rows of 80 px in an 800 px view scrolled to row 1,000.
        let r = rendered(80_000.0, 800.0, 80.0, 2_000, 30);
        assert_eq!(r, 970..1_041);
        assert!(r.len() <= 100, "a bounded DOM");
        assert_eq!(rendered(0.0, 800.0, 80.0, 2_000, 30), 0..41);
        // The end of the list.
        assert_eq!(rendered(160_000.0, 800.0, 80.0, 2_000, 30), 1_970..2_000);
        // A short list is rendered whole.
        assert_eq!(rendered(0.0, 800.0, 80.0, 25, 30), 0..25);
        assert_eq!(rendered(0.0, 800.0, 80.0, 0, 30), 0..0);
    }

    #[test]
    fn odd_measurements_never_render_everything_or_panic() {
        assert_eq!(rendered(-50.0, 800.0, 80.0, 100, 5), 0..16);
        assert!(rendered(0.0, 800.0, 0.0, 1_000_000, 30).len() < 1_000);
        assert!(rendered(0.0, 800.0, f64::NAN, 1_000_000, 30).len() < 1_000);
        assert_eq!(rendered(1e12, 800.0, 80.0, 10, 30), 10..10);
    }

    #[test]
    fn reveal_scrolls_as_little_as_needed() {
        assert_eq!(reveal(5, 0.0, 800.0, 80.0), None);
        assert_eq!(reveal(20, 0.0, 800.0, 80.0), Some(21.0 * 80.0 - 800.0));
        assert_eq!(reveal(2, 400.0, 800.0, 80.0), Some(160.0));
    }
}
