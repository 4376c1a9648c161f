//! What counts as a blank message: the one definition shared by the app's composer, the
//! embedded server and (as a regular-expression class) the hosted check constraint.
//!
//! A string is blank when it has no character a reader could see: every character is
//! White_Space, a Default_Ignorable_Code_Point, a format (Cf) character or an invisible
//! filler. The set is [`BLANK_RANGES`], written out by hand so that the wire crate stays
//! dependency-free for wasm32 and so that the hosted side can be generated from the same
//! list ([`postgres_class`]).
//!
//! Sources (Unicode 15.1 character database):
//! - `PropList.txt`, property White_Space (the same set as [`char::is_whitespace`]);
//! - `DerivedCoreProperties.txt`, property Default_Ignorable_Code_Point;
//! - `UnicodeData.txt`, general category Cf (format), except the Prepended_Concatenation_Mark
//!   characters (`PropList.txt`: U+0600..U+0605, U+06DD, U+070F, U+0890..U+0891, U+08E2,
//!   U+110BD, U+110CD), which render a visible sign;
//! - invisible fillers that are none of those but render as nothing: U+2800 BRAILLE PATTERN
//!   BLANK (So) and the musical null notehead U+1D159 (Mn-like spacing, renders empty).
//!
//! **Must change together** with the `messages_body_not_blank` check constraint in
//! `supabase/migrations/20261130000000_hold_the_line.sql`, whose bracket class is
//! [`postgres_class`]'s output (a server test compares the two), and with the blank inputs
//! `supabase/verify.sh` sends.

/// The blank character set as inclusive ranges `(first, last, what)`, sorted and
/// non-overlapping. `what` names the characters and the property that puts them here.
// One row per line keeps the table readable against the Unicode files it comes from.
#[rustfmt::skip]
pub const BLANK_RANGES: &[(char, char, &str)] = &[
    ('\u{0009}', '\u{000D}', "TAB, LF, VT, FF, CR (White_Space)"),
    ('\u{0020}', '\u{0020}', "SPACE (White_Space)"),
    ('\u{0085}', '\u{0085}', "NEXT LINE (White_Space)"),
    ('\u{00A0}', '\u{00A0}', "NO-BREAK SPACE (White_Space)"),
    ('\u{00AD}', '\u{00AD}', "SOFT HYPHEN (Cf, Default_Ignorable)"),
    ('\u{034F}', '\u{034F}', "COMBINING GRAPHEME JOINER (Default_Ignorable)"),
    ('\u{061C}', '\u{061C}', "ARABIC LETTER MARK (Cf, Default_Ignorable)"),
    ('\u{115F}', '\u{1160}', "HANGUL CHOSEONG/JUNGSEONG FILLER (Default_Ignorable)"),
    ('\u{1680}', '\u{1680}', "OGHAM SPACE MARK (White_Space)"),
    ('\u{17B4}', '\u{17B5}', "KHMER VOWEL INHERENT AQ/AA (Default_Ignorable)"),
    ('\u{180B}', '\u{180F}', "MONGOLIAN VARIATION SELECTORS, VOWEL SEPARATOR (Default_Ignorable)"),
    ('\u{2000}', '\u{200A}', "EN QUAD .. HAIR SPACE (White_Space)"),
    ('\u{200B}', '\u{200F}', "ZERO WIDTH SPACE, ZWNJ, ZWJ, LRM, RLM (Cf, Default_Ignorable)"),
    ('\u{2028}', '\u{2029}', "LINE/PARAGRAPH SEPARATOR (White_Space)"),
    ('\u{202A}', '\u{202E}', "BIDI EMBEDDINGS AND OVERRIDES (Cf, Default_Ignorable)"),
    ('\u{202F}', '\u{202F}', "NARROW NO-BREAK SPACE (White_Space)"),
    ('\u{205F}', '\u{205F}', "MEDIUM MATHEMATICAL SPACE (White_Space)"),
    ('\u{2060}', '\u{206F}', "WORD JOINER .. NOMINAL DIGIT SHAPES (Cf, Default_Ignorable)"),
    ('\u{2800}', '\u{2800}', "BRAILLE PATTERN BLANK (invisible filler)"),
    ('\u{3000}', '\u{3000}', "IDEOGRAPHIC SPACE (White_Space)"),
    ('\u{3164}', '\u{3164}', "HANGUL FILLER (Default_Ignorable)"),
    ('\u{FE00}', '\u{FE0F}', "VARIATION SELECTORS (Default_Ignorable)"),
    ('\u{FEFF}', '\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE / BOM (Cf, Default_Ignorable)"),
    ('\u{FFA0}', '\u{FFA0}', "HALFWIDTH HANGUL FILLER (Default_Ignorable)"),
    ('\u{FFF0}', '\u{FFFB}', "unassigned specials, INTERLINEAR ANNOTATION (Cf, Default_Ignorable)"),
    ('\u{13430}', '\u{1343F}', "EGYPTIAN HIEROGLYPH FORMAT CONTROLS (Cf)"),
    ('\u{1BCA0}', '\u{1BCA3}', "SHORTHAND FORMAT CONTROLS (Cf, Default_Ignorable)"),
    ('\u{1D159}', '\u{1D159}', "MUSICAL SYMBOL NULL NOTEHEAD (invisible filler)"),
    ('\u{1D173}', '\u{1D17A}', "MUSICAL SYMBOL FORMAT CONTROLS (Cf, Default_Ignorable)"),
    ('\u{E0000}', '\u{E0FFF}', "TAGS, VARIATION SELECTORS SUPPLEMENT (Cf, Default_Ignorable)"),
];

/// Whether `c` is in [`BLANK_RANGES`].
pub fn is_blank_char(c: char) -> bool {
    // Sorted, non-overlapping ranges: a binary search finds the only candidate.
    BLANK_RANGES
        .binary_search_by(|&(first, last, _)| {
            if c < first {
                std::cmp::Ordering::Greater
            } else if c > last {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `s` shows nothing to a reader: empty, or every character is in
/// [`BLANK_RANGES`]. The composer refuses to send such a text and both backends refuse to
/// store it as a message body.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_blank_char)
}

/// [`BLANK_RANGES`] as the inside of a PostgreSQL ARE bracket expression (no brackets),
/// e.g. `\u0009-\u000D\u0020…`: `body ~ '^[<class>]*$'` is true exactly when
/// [`is_blank`] is. Characters above U+FFFF use the eight-digit `\U` escape (PostgreSQL,
/// "Regular Expression Escapes": character-entry escapes are valid inside brackets).
pub fn postgres_class() -> String {
    fn escape(c: char) -> String {
        let code = u32::from(c);
        if code > 0xFFFF {
            format!("\\U{code:08X}")
        } else {
            format!("\\u{code:04X}")
        }
    }
    BLANK_RANGES
        .iter()
        .map(|&(first, last, _)| {
            if first == last {
                escape(first)
            } else {
                format!("{}-{}", escape(first), escape(last))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_only_bodies_are_blank() {
        for s in [
            "",
            "\n",
            " \t",
            "\u{200B}",
            "\u{2800}",
            "\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{200E}\u{200F}",
            "\u{3164}\u{115F}\u{1160}\u{FFA0}\u{180E}",
            "\u{00A0}\u{3000}\u{FE0F}\u{E0020}",
        ] {
            assert!(is_blank(s), "{s:?} should be blank");
        }
    }

    #[test]
    fn anything_visible_is_not_blank() {
        for s in ["a", "5 mg", "🚑", "\u{200B}x", "x\u{200B}", "\u{0300}", "·"] {
            assert!(!is_blank(s), "{s:?} should not be blank");
        }
    }

    #[test]
    fn ranges_are_sorted_and_disjoint() {
        for pair in BLANK_RANGES.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn every_white_space_character_is_blank() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.is_whitespace() {
                assert!(is_blank_char(c), "U+{:04X} is White_Space", u32::from(c));
            }
        }
    }

    #[test]
    fn postgres_class_spells_every_range() {
        let class = postgres_class();
        assert!(class.starts_with("\\u0009-\\u000D\\u0020"));
        assert!(class.contains("\\u2800"));
        assert!(class.ends_with("\\U000E0000-\\U000E0FFF"));
    }
}
