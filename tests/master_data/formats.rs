//! .ods and .xls files saved by LibreOffice Calc (committed), and the export
//! round trip.

use sceneflow::master_data::{self, Format, Limits, export};

use crate::support::book;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn ods_and_xls_read_like_xlsx() {
    let expected = master_data::check(&book::valid().bytes(), &Limits::default())
        .1
        .flow
        .unwrap()
        .without_rows();
    for (name, format) in [("valid.ods", Format::Ods), ("valid.xls", Format::Xls)] {
        let (found, validated) = master_data::check(&fixture(name), &Limits::default());
        assert_eq!(found, Some(format));
        assert!(validated.report.valid, "{name}: {:#?}", validated.report);
        assert_eq!(validated.flow.unwrap().without_rows(), expected, "{name}");
    }
}

#[test]
fn ods_and_xls_problems_point_at_the_same_cells() {
    for name in ["invalid.ods", "invalid.xls"] {
        let report = master_data::check(&fixture(name), &Limits::default())
            .1
            .report;
        let cells: Vec<_> = report
            .errors
            .iter()
            .map(|p| (p.cell(), p.code.as_str(), p.suggestion.clone()))
            .collect();
        assert_eq!(
            cells,
            vec![(
                "choices!A3".to_owned(),
                "unknown_scene".to_owned(),
                Some("welcome".to_owned())
            )],
            "{name}"
        );
    }
}

#[test]
fn export_then_import_gives_the_same_content() {
    for bytes in [book::valid().bytes(), master_data::SAMPLE_WORKBOOK.to_vec()] {
        let flow = master_data::check(&bytes, &Limits::default())
            .1
            .flow
            .unwrap();
        let exported = export::to_xlsx(&flow).unwrap();
        let again = master_data::check(&exported, &Limits::default()).1;
        assert!(again.report.valid, "{:#?}", again.report);
        assert_eq!(again.flow.unwrap().without_rows(), flow.without_rows());
    }
}

/// Writes the sources of the committed .ods/.xls fixtures; convert them with
/// `soffice --headless --convert-to ods|xls` (see tests/fixtures/README.md).
#[test]
#[ignore]
fn write_fixture_sources() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(format!("{dir}/valid.xlsx"), book::valid().bytes()).unwrap();
    std::fs::write(
        format!("{dir}/invalid.xlsx"),
        book::valid().set("choices", 3, "scene", "welcom").bytes(),
    )
    .unwrap();
}
