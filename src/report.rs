//! The validation report: every problem of a workbook, as data.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    // errors
    UnreadableWorkbook,
    MissingSheet,
    DuplicateSheet,
    MissingColumn,
    DuplicateColumn,
    EmptyRequired,
    InvalidKey,
    DuplicateScene,
    DuplicateChoice,
    UnknownCondition,
    UnknownScene,
    UnknownStep,
    InvalidInput,
    MissingChoices,
    ChoicesWithoutChoiceInput,
    InvalidWeight,
    InvalidBound,
    UnknownVariable,
    InvalidTemplate,
    CellError,
    EmptyFlow,
    FormulaWithoutValue,
    InvalidLanguageTag,
    InvalidBack,
    // warnings
    UnknownColumn,
    IgnoredSheet,
    StepSkippable,
    UnreachableStep,
    PossibleLoop,
    AmbiguousDisplay,
    MissingTranslation,
    TranslationWithoutDefault,
    // notes
    MergedCells,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    /// Worth knowing, nothing to fix.
    Info,
}

impl Code {
    pub fn level(self) -> Level {
        match self {
            Code::UnknownColumn
            | Code::IgnoredSheet
            | Code::StepSkippable
            | Code::UnreachableStep
            | Code::PossibleLoop
            | Code::AmbiguousDisplay
            | Code::MissingTranslation
            | Code::TranslationWithoutDefault => Level::Warning,
            Code::MergedCells => Level::Info,
            _ => Level::Error,
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub sheet: String,
    /// The row number the spreadsheet application shows; 0 for the whole sheet or workbook.
    pub row: u32,
    pub column: Option<String>,
    pub column_letter: Option<String>,
    pub code: Code,
    pub message: String,
    pub suggestion: Option<String>,
}

impl Problem {
    /// `choices!A14`, or the sheet alone when the problem has no cell.
    pub fn cell(&self) -> String {
        match (&self.column_letter, self.row) {
            (Some(letter), row) if row > 0 => format!("{}!{}{}", self.sheet, letter, row),
            (None, row) if row > 0 => format!("{} row {}", self.sheet, row),
            _ if self.sheet.is_empty() => "workbook".to_owned(),
            _ => self.sheet.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub valid: bool,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Info-level notes (merged ranges read as filled); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Problem>,
}

fn sheet_rank(sheet: &str) -> u8 {
    match sheet {
        "" => 0,
        "scenes" => 1,
        "choices" => 2,
        _ => 3,
    }
}

fn sort_key(p: &Problem) -> (u8, String, u32, usize, String, String) {
    let letter = p.column_letter.clone().unwrap_or_default();
    (
        sheet_rank(&p.sheet),
        p.sheet.clone(),
        p.row,
        letter.len(),
        letter,
        p.code.as_str(),
    )
}

impl Report {
    pub fn from_problems(problems: Vec<Problem>) -> Report {
        let (mut errors, rest): (Vec<_>, Vec<_>) = problems
            .into_iter()
            .partition(|p| p.code.level() == Level::Error);
        let (mut warnings, mut notes): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|p| p.code.level() == Level::Warning);
        errors.sort_by_cached_key(sort_key);
        warnings.sort_by_cached_key(sort_key);
        notes.sort_by_cached_key(sort_key);
        Report {
            valid: errors.is_empty(),
            errors,
            warnings,
            notes,
        }
    }

    pub fn unreadable(message: String) -> Report {
        Report::from_problems(vec![Problem {
            sheet: String::new(),
            row: 0,
            column: None,
            column_letter: None,
            code: Code::UnreadableWorkbook,
            message,
            suggestion: None,
        }])
    }

    pub fn is_unreadable(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.code == Code::UnreadableWorkbook)
    }

    /// Compiler-style text for the command line: grouped by sheet, in row order.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut all: Vec<(&str, &Problem)> = self
            .errors
            .iter()
            .map(|p| ("error", p))
            .chain(self.warnings.iter().map(|p| ("warning", p)))
            .chain(self.notes.iter().map(|p| ("note", p)))
            .collect();
        all.sort_by_cached_key(|(_, p)| sort_key(p));
        let mut current: Option<&str> = None;
        for (level, p) in all {
            let group = if p.sheet.is_empty() {
                "workbook"
            } else {
                p.sheet.as_str()
            };
            if current != Some(group) {
                out.push_str(&format!("\n── {group} ──\n"));
                current = Some(group);
            }
            out.push_str(&format!(
                "{level}[{}] {}: {}\n",
                p.code.as_str(),
                p.cell(),
                p.message
            ));
            if let Some(s) = &p.suggestion {
                out.push_str(&format!("    fix: did you mean '{s}'?\n"));
            }
        }
        out.push_str(&format!(
            "\n{}, {}: {}\n",
            crate::text::counted(self.errors.len() as i64, "error"),
            crate::text::counted(self.warnings.len() as i64, "warning"),
            if self.valid {
                "the workbook is valid"
            } else {
                "the workbook cannot be imported until the errors are fixed"
            }
        ));
        out
    }
}
