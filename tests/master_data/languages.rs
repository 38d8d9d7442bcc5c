//! Locale variants of text columns (docs/src/mobile-api.md "Languages"): tags, gaps,
//! templates, the back column, and the way back out through export.

use sceneflow::flow::locale;
use sceneflow::flow::view::scene_view;
use sceneflow::flow::{Attributes, CompiledFlow, FlowDef};
use sceneflow::master_data::{self, Limits, Problem, Report, export};
use serde_json::json;

use crate::support::book::translated;

fn check(bytes: &[u8]) -> (Report, Option<FlowDef>) {
    let validated = master_data::check(bytes, &Limits::default()).1;
    (validated.report, validated.flow)
}

fn problems<'r>(report: &'r Report, code: &str) -> Vec<&'r Problem> {
    report
        .errors
        .iter()
        .chain(&report.warnings)
        .filter(|p| p.code.as_str() == code)
        .collect()
}

fn cells(report: &Report, code: &str) -> Vec<String> {
    problems(report, code).iter().map(|p| p.cell()).collect()
}

fn attrs(value: serde_json::Value) -> Attributes {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_complete_translation_is_valid_without_warnings() {
    let (report, flow) = check(&translated().bytes());
    assert!(report.valid && report.warnings.is_empty(), "{report:#?}");
    let flow = flow.unwrap();
    assert_eq!(flow.locales(), vec!["en"]);
    let welcome = flow.scene("welcome").unwrap();
    assert_eq!(
        welcome.translations["en"].messages,
        vec![Some("Welcome!".to_owned()), Some("Let's start".to_owned())]
    );
    assert!(!flow.scene("goal_question").unwrap().back);
    assert!(flow.scene("done").unwrap().back);
    assert_eq!(flow.choices[1].translations["en"], "Sleep better");
    let coverage = flow.coverage();
    assert_eq!(
        (
            coverage[0].translated,
            coverage[0].total,
            coverage[0].percent()
        ),
        (8, 8, 100)
    );
}

#[test]
fn malformed_and_unknown_tags_are_errors_at_the_header() {
    let book = translated()
        .rename_header("scenes", "message_1::en", "message_1::en_US")
        .rename_header("choices", "label::en", "label::xx");
    let (report, flow) = check(&book.bytes());
    assert!(flow.is_none());
    let bad = problems(&report, "invalid_language_tag");
    assert_eq!(bad.len(), 2, "{report:#?}");
    assert_eq!(
        (bad[0].cell(), bad[0].suggestion.as_deref()),
        ("scenes!D1".to_owned(), Some("message_1::en-US"))
    );
    assert!(bad[0].message.contains("en_US"), "{}", bad[0].message);
    assert_eq!(
        (bad[1].cell(), bad[1].suggestion.as_deref()),
        ("choices!D1".to_owned(), None)
    );
    assert!(
        bad[1].message.contains("not a known language"),
        "{}",
        bad[1].message
    );
}

#[test]
fn tags_are_case_insensitive_and_untranslatable_columns_are_unknown() {
    let book = translated()
        .rename_header("scenes", "message_1::en", "MESSAGE_1::EN")
        .rename_header("scenes", "back", "input::en");
    let (report, flow) = check(&book.bytes());
    assert_eq!(
        cells(&report, "unknown_column"),
        vec!["scenes!L1"],
        "{report:#?}"
    );
    let flow = flow.unwrap();
    assert_eq!(
        flow.scene("done").unwrap().translations["en"].messages[0].as_deref(),
        Some("Thanks!")
    );
    let book = translated().rename_header("scenes", "back", "Message_1::En");
    let (report, _) = check(&book.bytes());
    assert_eq!(cells(&report, "duplicate_column"), vec!["scenes!L1"]);
}

#[test]
fn missing_translations_are_warnings_at_the_cell() {
    let book = translated()
        .set("scenes", 3, "message_1::en", "")
        .set("choices", 3, "label::en", "")
        // A language with one column: every other text of the workbook lacks it.
        .rename_header("scenes", "back", "message_1::fr")
        .set("scenes", 2, "message_1::fr", "Bienvenue !")
        .set("scenes", 4, "message_1::fr", "")
        .set("scenes", 5, "message_1::fr", "");
    let (report, flow) = check(&book.bytes());
    assert!(report.valid, "{report:#?}");
    let missing: Vec<String> = cells(&report, "missing_translation");
    for cell in [
        "scenes!D3",
        "choices!D3",
        "scenes!L3",
        "scenes!L4",
        "scenes!L5",
    ] {
        assert!(missing.contains(&cell.to_owned()), "{cell} in {missing:#?}");
    }
    // Cells with no column of their language are named by the column.
    let no_column: Vec<_> = problems(&report, "missing_translation")
        .into_iter()
        .filter(|p| p.column_letter.is_none())
        .map(|p| (p.sheet.clone(), p.row, p.column.clone().unwrap()))
        .collect();
    assert!(
        no_column.contains(&("scenes".into(), 2, "message_2::fr".into())),
        "{no_column:#?}"
    );
    assert!(
        no_column.contains(&("scenes".into(), 3, "placeholder::fr".into())),
        "{no_column:#?}"
    );
    assert!(
        no_column.contains(&("choices".into(), 2, "label::fr".into())),
        "{no_column:#?}"
    );
    let message = &problems(&report, "missing_translation")[0].message;
    assert!(message.contains("default text"), "{message}");

    // The default is served where the translation is missing.
    let flow = CompiledFlow::compile("v", flow.unwrap());
    let name = flow.scene_position("name_ask").unwrap();
    let view = scene_view(&flow, name, "id".into(), &attrs(json!({})), &["en"]);
    assert_eq!(view.messages[0].text, "お名前は?");
    assert_eq!(view.input.placeholder.as_deref(), Some("Nickname"));
}

/// A text that falls back along `en-US` → `en` is served translated, so it
/// is no gap: only the languages with no text on the way warn.
#[test]
fn a_translation_reached_through_the_fallback_chain_is_not_missing() {
    let book = translated().rename_header("choices", "label::en", "label::en-US");
    let (report, _) = check(&book.bytes());
    assert!(report.valid, "{report:#?}");
    let missing: Vec<_> = problems(&report, "missing_translation")
        .into_iter()
        .map(|p| (p.sheet.clone(), p.row, p.column.clone().unwrap_or_default()))
        .collect();
    // Scenes have `en` text, which users served en-US see; choices lack `en`.
    assert_eq!(
        missing,
        vec![
            ("choices".to_owned(), 2, "label::en".to_owned()),
            ("choices".to_owned(), 3, "label::en".to_owned()),
        ]
    );
}

#[test]
fn a_translation_without_default_text_is_ignored_with_a_warning() {
    let book = translated().set("scenes", 3, "message_2::en", "Or a nickname");
    let (report, flow) = check(&book.bytes());
    assert_eq!(
        cells(&report, "translation_without_default"),
        vec!["scenes!F3"]
    );
    let name = flow.unwrap();
    assert_eq!(
        name.scene("name_ask").unwrap().translations["en"]
            .messages
            .len(),
        1
    );
}

#[test]
fn templates_are_checked_in_every_language() {
    let book = translated().set("scenes", 4, "message_1::en", "Hi {{nickame}}!");
    let (report, _) = check(&book.bytes());
    let bad = problems(&report, "unknown_variable");
    assert_eq!(bad.len(), 1, "{report:#?}");
    assert_eq!(
        (bad[0].cell(), bad[0].suggestion.as_deref()),
        ("scenes!D4".to_owned(), Some("nickname"))
    );
    let book = translated().set("scenes", 2, "message_2::en", "Hi {{nick");
    assert_eq!(
        cells(&check(&book.bytes()).0, "invalid_template"),
        vec!["scenes!F2"]
    );
}

#[test]
fn templates_render_in_a_translation() {
    let flow = CompiledFlow::compile("v", check(&translated().bytes()).1.unwrap());
    let goal = flow.scene_position("goal_question").unwrap();
    let view = |a, chain: &[&str]| scene_view(&flow, goal, "id".into(), &attrs(a), chain);
    assert_eq!(
        view(json!({"nickname": "Yuki"}), &["en"]).messages[0].text,
        "Yuki, your goal?"
    );
    assert_eq!(
        view(json!({}), &["en"]).messages[0].text,
        "guest, your goal?"
    );
    assert_eq!(view(json!({}), &[]).messages[0].text, "ゲストさん、目標は?");
    let labels: Vec<_> = view(json!({}), &["en"])
        .input
        .choices
        .into_iter()
        .map(|c| c.label)
        .collect();
    assert_eq!(labels, vec!["Lose weight", "Sleep better"]);
}

#[test]
fn the_back_column_takes_yes_no_or_blank() {
    let book = translated()
        .set("scenes", 2, "back", "maybe")
        .set("scenes", 3, "back", "TRUE");
    let (report, flow) = check(&book.bytes());
    assert!(flow.is_none());
    let bad = problems(&report, "invalid_back");
    assert_eq!(
        bad.iter().map(|p| p.cell()).collect::<Vec<_>>(),
        vec!["scenes!L2", "scenes!L3"]
    );
    assert_eq!(bad[1].suggestion.as_deref(), Some("yes"));
    let (report, flow) = check(&translated().set("scenes", 2, "back", " NO ").bytes());
    assert!(report.valid);
    assert!(!flow.unwrap().scene("welcome").unwrap().back);
}

#[test]
fn export_round_trips_translations_and_back() {
    for bytes in [
        translated().set("choices", 3, "label::en", "").bytes(),
        std::fs::read(format!(
            "{}/tests/fixtures/real/excel_translated.xlsx",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    ] {
        let (report, flow) = check(&bytes);
        let flow = flow.unwrap_or_else(|| panic!("{report:#?}"));
        let again = check(&export::to_xlsx(&flow).unwrap());
        assert_eq!(again.1.unwrap().without_rows(), flow.without_rows());
        // The same gaps are reported again.
        let gaps = |r: &Report| problems(r, "missing_translation").len();
        assert_eq!(gaps(&again.0), gaps(&report));
    }
}

/// A workbook shaped like Excel's own files: header case as typed, rich and
/// inline strings, merged cells in a translated column, `No` in back.
#[test]
fn a_hand_shaped_excel_workbook_serves_every_language() {
    let bytes = std::fs::read(format!(
        "{}/tests/fixtures/real/excel_translated.xlsx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (report, flow) = check(&bytes);
    assert!(report.valid, "{report:#?}");
    assert!(
        problems(&report, "unknown_column").is_empty(),
        "{report:#?}"
    );
    let gaps = cells(&report, "missing_translation");
    for cell in ["scenes!G3", "choices!D3"] {
        assert!(gaps.contains(&cell.to_owned()), "{cell} in {gaps:#?}");
    }
    // en-US users are served the en text of message_1 (fallback chain):
    // no gap there.
    for cell in ["scenes!E3", "scenes!E4", "scenes!E5"] {
        assert!(!gaps.contains(&cell.to_owned()), "{cell} in {gaps:#?}");
    }
    let flow = flow.unwrap();
    assert_eq!(flow.locales(), vec!["en", "en-US"]);
    assert!(!flow.scene("consent_ask").unwrap().back);
    let flow = CompiledFlow::compile("v", flow);
    let at = |key: &str, wanted: &str| {
        let served = locale::served(
            flow.languages(),
            &attrs(json!({"nickname": "Ann"})),
            &locale::Wanted::from_accept_language(wanted),
        );
        let chain = locale::chain(flow.locales(), served.as_deref());
        let i = flow.scene_position(key).unwrap();
        (
            served.clone(),
            scene_view(
                &flow,
                i,
                "id".into(),
                &attrs(json!({"nickname": "Ann"})),
                &chain,
            ),
        )
    };
    // en-US → en → default, text by text.
    let (served, welcome) = at("welcome", "en-US,en;q=0.8");
    assert_eq!(served.as_deref(), Some("en-US"));
    assert_eq!(welcome.messages[0].text, "Howdy!");
    let (_, name) = at("name_ask", "en-US");
    assert_eq!(name.messages[0].text, "Your name?");
    assert_eq!(name.messages[1].text, "ニックネームでどうぞ");
    assert_eq!(name.input.placeholder.as_deref(), Some("Nickname"));
    let (served, welcome) = at("welcome", "en-GB");
    assert_eq!(
        (served.as_deref(), welcome.messages[0].text.as_str()),
        (Some("en"), "Welcome, nice to meet you!")
    );
    let (served, consent) = at("consent_ask", "de-DE, fr;q=0.9");
    assert_eq!(served, None);
    assert_eq!(consent.messages[0].text, "Annさん、規約に同意しますか?");
    let (_, consent) = at("consent_ask", "en");
    assert_eq!(consent.messages[0].text, "Ann, do you accept the terms?");
    let labels: Vec<_> = consent
        .input
        .choices
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(labels, vec!["Yes", "いいえ", "Later", "Later"]);
}
