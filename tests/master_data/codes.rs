//! One workbook per report code, each breaking the valid flow in one place.
//! The report is snapshotted, and the cell it points at is asserted.

use sceneflow::master_data::{self, Limits, Report};

use crate::support::book::{self, Book};

fn report(book: &Book) -> Report {
    master_data::check(&book.bytes(), &Limits::default())
        .1
        .report
}

/// The problem with `code`: it must exist, at the given sheet/row/column.
#[track_caller]
fn expect(
    report: &Report,
    code: &str,
    sheet: &str,
    row: u32,
    column: Option<&str>,
    suggestion: Option<&str>,
) {
    let all: Vec<_> = report.errors.iter().chain(&report.warnings).collect();
    let found = all
        .iter()
        .find(|p| p.code.as_str() == code)
        .unwrap_or_else(|| panic!("no {code} in {all:#?}"));
    assert_eq!(found.sheet, sheet, "{found:#?}");
    assert_eq!(found.row, row, "{found:#?}");
    assert_eq!(found.column_letter.as_deref(), column, "{found:#?}");
    assert_eq!(found.suggestion.as_deref(), suggestion, "{found:#?}");
    assert!(found.message.len() > 30, "the message explains: {found:#?}");
}

macro_rules! case {
    ($name:ident, $book:expr, $code:expr, $sheet:expr, $row:expr, $col:expr, $suggestion:expr) => {
        #[test]
        fn $name() {
            let report = report(&$book);
            expect(&report, $code, $sheet, $row, $col, $suggestion);
            insta::assert_json_snapshot!(stringify!($name), report);
        }
    };
}

#[test]
fn the_valid_flow_has_no_problems() {
    let report = report(&book::valid());
    assert!(
        report.valid && report.errors.is_empty() && report.warnings.is_empty(),
        "{report:#?}"
    );
}

#[test]
fn the_sample_workbook_is_valid_without_warnings() {
    let (_, validated) = master_data::check(master_data::SAMPLE_WORKBOOK, &Limits::default());
    assert!(
        validated.report.valid && validated.report.warnings.is_empty(),
        "{}",
        validated.report.render_text()
    );
    let flow = validated.flow.unwrap();
    let kinds: std::collections::HashSet<_> = flow.scenes.iter().map(|s| s.input).collect();
    assert_eq!(kinds.len(), 6, "the sample uses every input kind");
}

#[test]
fn unreadable_workbook() {
    let report = master_data::check(b"this is not a spreadsheet", &Limits::default())
        .1
        .report;
    expect(&report, "unreadable_workbook", "", 0, None, None);
    insta::assert_json_snapshot!("unreadable_workbook", report);
}
case!(
    missing_sheet,
    book::valid().remove_sheet("choices"),
    "missing_sheet",
    "choices",
    0,
    None,
    None
);
case!(
    missing_column,
    book::valid().rename_header("scenes", "scene", "scene_name"),
    "missing_column",
    "scenes",
    1,
    None,
    None
);
case!(
    empty_required,
    book::valid().set("scenes", 3, "message_1", ""),
    "empty_required",
    "scenes",
    3,
    Some("E"),
    None
);
case!(
    invalid_key,
    book::valid().set("scenes", 2, "step", "Stay Fit "),
    "invalid_key",
    "scenes",
    2,
    Some("A"),
    Some("stay_fit")
);
case!(
    invalid_key_full_width_space,
    book::valid().set("scenes", 3, "step", "\u{3000}goal"),
    "invalid_key",
    "scenes",
    3,
    Some("A"),
    Some("goal")
);
case!(
    duplicate_scene,
    book::valid().set("scenes", 4, "scene", "welcome"),
    "duplicate_scene",
    "scenes",
    4,
    Some("B"),
    None
);
case!(
    duplicate_choice,
    book::valid().set("choices", 3, "choice", "lose_weight"),
    "duplicate_choice",
    "choices",
    3,
    Some("B"),
    None
);
case!(
    unknown_condition,
    book::valid().set("scenes", 3, "condition", "femal"),
    "unknown_condition",
    "scenes",
    3,
    Some("C"),
    Some("female")
);
case!(
    unknown_scene,
    book::valid().set("choices", 3, "scene", "welcom"),
    "unknown_scene",
    "choices",
    3,
    Some("A"),
    Some("welcome")
);
case!(
    unknown_step,
    book::valid().set("choices", 3, "next_step", "don"),
    "unknown_step",
    "choices",
    3,
    Some("E"),
    Some("done")
);
case!(
    invalid_input,
    book::valid().set("scenes", 3, "input", "choise"),
    "invalid_input",
    "scenes",
    3,
    Some("G"),
    Some("choice")
);
case!(
    missing_choices,
    book::valid()
        .remove_row("choices", 3)
        .remove_row("choices", 2),
    "missing_choices",
    "scenes",
    3,
    Some("G"),
    None
);
case!(
    choices_without_choice_input,
    book::valid().push("choices", vec!["welcome", "ok", "OK", "", ""]),
    "choices_without_choice_input",
    "choices",
    4,
    Some("A"),
    None
);
case!(
    invalid_weight,
    book::valid().set("scenes", 2, "weight", "#-1"),
    "invalid_weight",
    "scenes",
    2,
    Some("D"),
    None
);
case!(
    invalid_bound_order,
    book::valid().set("scenes", 4, "min", "#30"),
    "invalid_bound",
    "scenes",
    4,
    Some("I"),
    None
);
case!(
    invalid_bound_type,
    book::valid().set("scenes", 4, "max", "many"),
    "invalid_bound",
    "scenes",
    4,
    Some("J"),
    None
);
case!(
    unknown_variable,
    book::valid().set("scenes", 2, "message_1", "{{nicknam}}さん"),
    "unknown_variable",
    "scenes",
    2,
    Some("E"),
    Some("nickname")
);
case!(
    unknown_column,
    book::valid().rename_header("scenes", "placeholder", "placeholdr"),
    "unknown_column",
    "scenes",
    1,
    Some("K"),
    Some("placeholder")
);
case!(
    ignored_sheet,
    book::valid().sheet("notes", vec![vec!["memo"]]),
    "ignored_sheet",
    "notes",
    0,
    None,
    None
);
case!(
    step_skippable,
    book::valid().set("scenes", 4, "condition", "female"),
    "step_skippable",
    "scenes",
    0,
    None,
    None
);
case!(
    unreachable_step,
    book::valid().set("scenes", 2, "next_step", "done"),
    "unreachable_step",
    "scenes",
    0,
    None,
    None
);
case!(
    possible_loop,
    book::valid().set("scenes", 5, "next_step", "welcome"),
    "possible_loop",
    "scenes",
    5,
    Some("L"),
    None
);

#[test]
fn every_problem_is_reported_at_once_in_row_order() {
    let book = book::valid()
        .set("scenes", 5, "input", "number!")
        .set("scenes", 2, "condition", "nobody")
        .set("choices", 2, "scene", "nope")
        .set("choices", 3, "label", "");
    let report = report(&book);
    let cells: Vec<_> = report.errors.iter().map(|p| p.cell()).collect();
    assert_eq!(
        cells,
        ["scenes!C2", "scenes!G5", "choices!A2", "choices!C3"],
        "{report:#?}"
    );
    assert!(!report.valid);
}

#[test]
fn a_malformed_key_does_not_cascade() {
    // The scene key is wrong; choices that use the intended key are not also reported.
    let report = report(&book::valid().set("scenes", 3, "scene", "Goal_Question"));
    let codes: Vec<_> = report.errors.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["invalid_key"]);
}

#[test]
fn header_names_are_case_insensitive_and_trimmed() {
    let book = book::valid()
        .rename_header("scenes", "step", " Step ")
        .rename_header("choices", "label", "LABEL");
    assert!(report(&book).valid);
    let renamed = book::valid();
    let mut sheets = renamed.sheets.clone();
    sheets[0].0 = "Scenes".into();
    assert!(report(&Book { sheets }).valid);
}

#[test]
fn defaults_fill_blank_cells() {
    let (_, validated) = master_data::check(&book::valid().bytes(), &Limits::default());
    let flow = validated.flow.unwrap();
    assert_eq!(flow.scenes[0].condition, "pass_through");
    assert_eq!(flow.scenes[0].weight, 1.0);
    assert_eq!(flow.choices[0].value, "lose_weight");
    assert_eq!(flow.scenes[3].next_step, Some(sceneflow::flow::Target::End));
}
