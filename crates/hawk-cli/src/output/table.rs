//! Human tables that fit a terminal, and the text helpers every printer uses.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

/// Human tables fit a terminal this wide: columns holding stored text give up width,
/// widest first, and cut their values with `…`.
const WIDTH: usize = 80;
const GAP: &str = "  ";

/// A column of a human table.
pub(super) struct Column {
    header: &'static str,
    right: bool,
    /// How much of the width this column keeps when values must be cut to fit
    /// [`WIDTH`], relative to the others; 0: never cut (ids, times, counts).
    weight: usize,
}

pub(super) const fn col(header: &'static str, right: bool, weight: usize) -> Column {
    Column {
        header,
        right,
        weight,
    }
}

/// The widths of a table's columns, fixed before its rows are printed, so a streamed
/// table and a page of the same rows print alike.
pub(super) struct Layout<const N: usize> {
    columns: &'static [Column; N],
    widths: [usize; N],
}

impl<const N: usize> Layout<N> {
    /// Widths that hold `rows` (cells already made [`visible`]) within [`WIDTH`],
    /// narrowing the widest cuttable column first; `None` for no rows.
    pub(super) fn fit(columns: &'static [Column; N], rows: &[[String; N]]) -> Option<Self> {
        if rows.is_empty() {
            return None;
        }
        let mut widths: [usize; N] = std::array::from_fn(|i| columns[i].header.width());
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let room = WIDTH.saturating_sub(GAP.len() * (N - 1));
        while widths.iter().sum::<usize>() > room {
            // The column widest for its weight gives up one (the rightmost on a tie).
            let widest = (0..N)
                .filter(|&i| columns[i].weight > 0 && widths[i] > columns[i].header.width().max(4))
                .max_by_key(|&i| (widths[i] * 6 / columns[i].weight, i));
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        Some(Layout { columns, widths })
    }

    pub(super) fn write_header(&self, w: &mut impl Write) -> io::Result<()> {
        let header: [String; N] = std::array::from_fn(|i| self.columns[i].header.to_owned());
        self.write_row(w, &header)?;
        let rule = self.widths.map(|width| "─".repeat(width));
        writeln!(w, "{}", rule.join(GAP))
    }

    /// One row; the last column is not padded, so lines carry no trailing spaces.
    pub(super) fn write_row(&self, w: &mut impl Write, cells: &[String; N]) -> io::Result<()> {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = self.widths[i];
            let cell = cut(cell, width);
            let pad = " ".repeat(width.saturating_sub(cell.width()));
            if i > 0 {
                line.push_str(GAP);
            }
            if self.columns[i].right {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                if i + 1 < N {
                    line.push_str(&pad);
                }
            }
        }
        writeln!(w, "{}", line.trim_end())
    }
}

/// `text` within `width` columns of the terminal, ending in `…` when it was cut.
fn cut(text: &str, width: usize) -> Cow<'_, str> {
    if text.width() <= width {
        return Cow::Borrowed(text);
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    kept.push('…');
    Cow::Owned(kept)
}

/// A stored value as people may see it: control characters, and the Unicode
/// controls that reorder or break lines, are shown as escapes (`\x1b`, `\r`,
/// `\u{202e}`), so a value cannot move the cursor, clear the screen or forge table
/// rows. Every human output of stored text goes through here; `--json`, NDJSON and
/// CSV are written byte for byte.
pub(crate) fn visible(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if hidden(c) && (c as u32) < 0x80 => {
                let _ = write!(shown, "\\x{:02x}", c as u32);
            }
            c if hidden(c) => {
                let _ = write!(shown, "\\u{{{:04x}}}", c as u32);
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// `n` with thousands separators: `1,234,567`.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

pub(super) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", grouped(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::{cut, grouped, visible};

    #[test]
    fn counts_are_grouped_by_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ];
        for (n, want) in cases {
            assert_eq!(grouped(n), want);
        }
    }

    #[test]
    fn control_characters_are_shown_as_escapes() {
        assert_eq!(visible("plain.action"), "plain.action");
        assert_eq!(
            visible("a\x1b[2Jb\r\nc\td\u{7f}\u{9b}\u{202e}e"),
            "a\\x1b[2Jb\\r\\nc\\td\\x7f\\u{009b}\\u{202e}e"
        );
    }

    #[test]
    fn cut_values_end_in_an_ellipsis_within_the_width() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abcde…");
        assert_eq!(cut("日本語の文字", 7), "日本語…");
    }
}
