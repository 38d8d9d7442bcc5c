//! Workbooks saved by spreadsheet applications (tests/fixtures/real/) and the
//! small cases of issue reports (tests/fixtures/cases/): the report and the
//! served content are what the operator sees in the sheet.

use sceneflow::flow::{Bound, FlowDef};
use sceneflow::master_data::{self, Limits, Report};
use serde_json::json;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn check(path: &str) -> (Report, Option<FlowDef>) {
    let validated = master_data::check(&fixture(path), &Limits::default()).1;
    (validated.report, validated.flow)
}

fn codes(report: &Report) -> Vec<(String, String)> {
    report
        .errors
        .iter()
        .chain(&report.warnings)
        .map(|p| (p.cell(), p.code.as_str()))
        .collect()
}

fn labels(flow: &FlowDef) -> Vec<&str> {
    flow.choices.iter().map(|c| c.label.as_str()).collect()
}

fn message(flow: &FlowDef, scene: &str) -> String {
    flow.scene(scene).unwrap().messages.join("\n")
}

/// Every fixture: the report and the flow it gives, as snapshots.
#[test]
fn reports_and_served_content_of_every_fixture() {
    for path in [
        "real/excel_jp.xlsx",
        "real/google_sheets.xlsx",
        "real/script_formulas.xlsx",
        "real/excel_translated.xlsx",
        "real/libreoffice_jp.xlsx",
        "real/libreoffice_jp.ods",
        "real/libreoffice_jp.xls",
        "cases/merged_cells.xlsx",
        "cases/percent_labels.xlsx",
        "cases/age_30s.xlsx",
        "cases/helper_len_column.xlsx",
    ] {
        let (report, flow) = check(path);
        let name = path.replace(['/', '.'], "_");
        insta::assert_json_snapshot!(name, json!({"report": report, "flow": flow}));
    }
}

#[test]
fn percent_labels_read_as_the_sheet_shows_them() {
    let (report, flow) = check("cases/percent_labels.xlsx");
    assert!(report.valid, "{report:#?}");
    assert_eq!(labels(&flow.unwrap()), ["3%", "5%", "10%"]);
}

#[test]
fn a_helper_column_does_not_make_scenes() {
    let (report, _) = check("cases/helper_len_column.xlsx");
    assert!(report.valid, "{report:#?}");
    assert_eq!(
        codes(&report),
        [("scenes!L1".to_owned(), "unknown_column".to_owned())]
    );
}

#[test]
fn merged_cells_count_for_every_cell_with_one_note_per_range() {
    let (report, flow) = check("cases/merged_cells.xlsx");
    assert!(report.valid, "{report:#?}");
    assert!(report.errors.is_empty() && report.warnings.is_empty());
    let notes: Vec<_> = report.notes.iter().map(|n| n.cell()).collect();
    assert_eq!(
        notes,
        ["scenes!A3", "choices!A2", "choices!A4", "choices!A6"]
    );
    let flow = flow.unwrap();
    assert_eq!(flow.scenes.iter().filter(|s| s.step == "goal").count(), 3);
}

#[test]
fn formats_give_the_text_each_application_shows() {
    // .xls keeps only dates from number formats (calamine reads no other
    // format codes from BIFF): see docs/src/workbook.md.
    for path in [
        "real/excel_jp.xlsx",
        "real/libreoffice_jp.xlsx",
        "real/libreoffice_jp.ods",
    ] {
        let (report, flow) = check(path);
        assert!(report.valid, "{path}: {report:#?}");
        let flow = flow.unwrap();
        assert_eq!(labels(&flow), ["3%", "10%", "5%", "8%"], "{path}");
        assert_eq!(message(&flow, "price_note"), "¥1,200", "{path}");
        assert_eq!(message(&flow, "time_note"), "9:30", "{path}");
        assert_eq!(message(&flow, "code_note"), "000123", "{path}");
        assert_eq!(message(&flow, "amount_note"), "1,234,567.50", "{path}");
        assert_eq!(message(&flow, "half_note"), "1/2", "{path}");
        assert_eq!(
            message(&flow, "welcome"),
            "ようこそ、はじめまして!",
            "{path}: phonetic runs are not text"
        );
    }
}

#[test]
fn date_formatted_bounds_are_dates_in_every_format() {
    for path in [
        "real/excel_jp.xlsx",
        "real/libreoffice_jp.xlsx",
        "real/libreoffice_jp.ods",
        "real/libreoffice_jp.xls",
    ] {
        let (report, flow) = check(path);
        assert!(report.valid, "{path}: {report:#?}");
        let scene = flow.unwrap().scene("born_ask").cloned().unwrap();
        let date = |y, m, d| {
            Some(Bound::Date(
                chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            ))
        };
        assert_eq!(scene.min, date(1990, 1, 1), "{path}");
        assert_eq!(scene.max, date(2010, 1, 1), "{path}");
    }
}

#[test]
fn formulas_without_a_saved_value_are_named_without_follow_on_errors() {
    let (report, _) = check("real/script_formulas.xlsx");
    assert_eq!(
        codes(&report),
        [
            ("scenes!B2".to_owned(), "formula_without_value".to_owned()),
            ("scenes!C3".to_owned(), "formula_without_value".to_owned()),
        ]
    );
    assert!(report.errors[0].message.contains("=LOWER(\"Welcome\")"));
}

#[test]
fn rounded_results_and_locale_dates_are_warned_with_the_cell() {
    let (report, flow) = check("real/google_sheets.xlsx");
    assert!(report.valid);
    assert_eq!(
        codes(&report),
        [
            ("scenes!E3".to_owned(), "ambiguous_display".to_owned()),
            ("scenes!E4".to_owned(), "ambiguous_display".to_owned()),
        ]
    );
    assert!(
        report.warnings[1].message.contains("'2024-01-05'"),
        "{report:#?}"
    );
    let flow = flow.unwrap();
    assert_eq!(message(&flow, "rate_ask"), "0.3");
    assert_eq!(message(&flow, "welcome"), "Welcome!");
}

/// XlsxWriter stores 0 as the result of every formula and asks the
/// application to calculate on load: the label the operator sees in Excel
/// (やせたい) was never saved, so the file is refused at the cell with the
/// formula, never served as the button `0`.
#[test]
fn placeholder_results_of_non_calculating_writers_are_not_served() {
    let (report, flow) = check("cases/xlsxwriter_formula_label.xlsx");
    assert!(flow.is_none());
    assert!(
        codes(&report).contains(&("choices!C2".to_owned(), "formula_without_value".to_owned())),
        "{:?}",
        codes(&report)
    );
    let at_c2 = report
        .errors
        .iter()
        .find(|e| e.message.contains("CONCATENATE"))
        .expect("the formula is named");
    assert!(at_c2.message.contains("does not calculate"));
}
