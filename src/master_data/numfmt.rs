//! What a spreadsheet application shows for a number: the cell's number
//! format applied to its value (docs/src/workbook.md, "How cells are read").
//!
//! Operators type `3%`, `9:30`, `¥1,200` or `000123`; the file stores `0.03`,
//! `0.3958…`, `1200` or `123` plus a format. Text columns must take what the
//! operator sees, so the format is applied here with `ssfmt` (Excel's
//! ECMA-376 format codes, checked against SheetJS SSF). Displays that differ
//! between computers are flagged so validation can warn.

use std::collections::HashMap;

/// The text a cell shows, and why that text may not be what the operator meant.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub text: String,
    pub ambiguity: Option<Ambiguity>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ambiguity {
    /// A built-in date or time format, which each computer shows in its own
    /// language's order (`1/5/2024` in the US, `2024/1/5` in Japan).
    LocaleDate,
    /// A calculation result such as `0.30000000000000004` that the
    /// application rounds for display.
    Rounded { stored: String },
}

/// Built-in format ids whose display follows the computer's locale: the
/// short date and time formats (14–22) and the East Asian ones (27–36, 50–58).
fn locale_dependent(id: u32) -> bool {
    matches!(id, 14..=22 | 27..=36 | 50..=58)
}

pub fn is_general(code: &str) -> bool {
    let code = code.trim();
    code.is_empty() || code.eq_ignore_ascii_case("general")
}

/// Whether a double needs more than the 15 significant digits a spreadsheet shows.
pub fn needs_rounding(value: f64) -> bool {
    value.is_finite()
        && format!("{value:.14e}")
            .parse::<f64>()
            .is_ok_and(|rounded| rounded != value)
}

/// The text a number shows under a format; `None` when it is what the plain
/// number gives (General and no rounding), so callers keep their own text.
pub fn show(value: f64, code: &str, builtin_id: Option<u32>, is_1904: bool) -> Option<Shown> {
    let opts = ssfmt::FormatOptions {
        date_system: if is_1904 {
            ssfmt::DateSystem::Date1904
        } else {
            ssfmt::DateSystem::Date1900
        },
        ..Default::default()
    };
    if is_general(code) {
        if !needs_rounding(value) {
            return None;
        }
        let text = ssfmt::format(value, "General", &opts).ok()?;
        return Some(Shown {
            text,
            ambiguity: Some(Ambiguity::Rounded {
                stored: format!("{value}"),
            }),
        });
    }
    // `@` (text) shows a number as General would.
    if code.trim() == "@" {
        return None;
    }
    // The short date (14) and date-time (22) shows differ per computer; the
    // file's code (`mm-dd-yy`) is what none of them shows, so read ISO order.
    let code = match builtin_id {
        Some(14) => "yyyy-mm-dd",
        Some(22) => "yyyy-mm-dd h:mm",
        _ => code,
    };
    let text = ssfmt::format(value, code, &opts).ok()?;
    // Formats pad with spaces for alignment (`_)`, `?`); the sheet's reader
    // sees the characters, not the padding.
    let text = text.trim().to_owned();
    let ambiguity = builtin_id
        .filter(|id| locale_dependent(*id))
        .map(|_| Ambiguity::LocaleDate);
    Some(Shown { text, ambiguity })
}

/// Shown texts of one sheet by 0-based (row, column), only for cells whose
/// format changes the plain text of their value.
pub type ShownCells = HashMap<(u32, u32), Shown>;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: f64, code: &str) -> String {
        show(value, code, None, false).unwrap().text
    }

    #[test]
    fn formats_operators_use() {
        assert_eq!(text(0.03, "0%"), "3%");
        assert_eq!(text(0.125, "0.0%"), "12.5%");
        assert_eq!(text(0.395833333, "h:mm"), "9:30");
        assert_eq!(text(45296.0, "yyyy/m/d"), "2024/1/5");
        assert_eq!(text(45296.0, "yyyy\"年\"m\"月\"d\"日\""), "2024年1月5日");
        assert_eq!(text(1200.0, "\"¥\"#,##0"), "¥1,200");
        assert_eq!(text(1234567.0, "#,##0"), "1,234,567");
        assert_eq!(text(1234.5, "$#,##0.00"), "$1,234.50");
        assert_eq!(text(0.5, "# ?/?"), "1/2");
        assert_eq!(text(123.0, "000000"), "000123");
    }

    #[test]
    fn general_and_text_keep_the_plain_number() {
        assert_eq!(show(1994.0, "General", Some(0), false), None);
        assert_eq!(show(0.1, "General", Some(0), false), None);
        assert_eq!(show(42.0, "@", Some(49), false), None);
    }

    #[test]
    fn rounded_results_and_locale_dates_are_flagged() {
        let shown = show(0.1 + 0.2, "General", Some(0), false).unwrap();
        assert_eq!(shown.text, "0.3");
        assert!(matches!(shown.ambiguity, Some(Ambiguity::Rounded { .. })));
        let shown = show(45296.0, "mm-dd-yy", Some(14), false).unwrap();
        assert_eq!(shown.ambiguity, Some(Ambiguity::LocaleDate));
        assert_eq!(shown.text, "2024-01-05");
    }
}
