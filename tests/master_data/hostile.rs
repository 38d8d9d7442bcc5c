//! Files built to hurt: each is refused as `unreadable_workbook`, and the
//! reader never holds more than the limits allow.

use std::io::Write;

use sceneflow::master_data::{self, Limits};
use zip::write::SimpleFileOptions;

use crate::support::book;

#[track_caller]
fn assert_unreadable(bytes: &[u8], because: &str) {
    let (_, validated) = master_data::check(bytes, &Limits::default());
    let report = validated.report;
    assert!(report.is_unreadable(), "{because}: {report:#?}");
    assert_eq!(report.errors.len(), 1);
    assert!(validated.flow.is_none());
    assert!(
        report.errors[0].message.contains(because),
        "{because} in: {}",
        report.errors[0].message
    );
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn zip_bomb_is_refused_after_the_limit() {
    // 300 MB of spaces in a 3 MB file: over the 200 MB expansion limit.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<Types/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..300 {
        zip.write_all(&chunk).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    assert!(
        bytes.len() < 5_000_000,
        "the bomb is small: {}",
        bytes.len()
    );
    assert_unreadable(&bytes, "zip bomb");
}

#[test]
fn sparse_cells_far_apart_are_refused() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet().set_name("scenes").unwrap();
    sheet.write_string(0, 0, "step").unwrap();
    sheet.write_string(1_000_000, 16_000, "far away").unwrap();
    book.add_worksheet().set_name("choices").unwrap();
    assert_unreadable(&book.save_to_buffer().unwrap(), "cells");
}

#[test]
fn ods_repeat_bomb_is_refused() {
    let content = br#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="scenes"><table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="10000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "mimetype",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("content.xml", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(content).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert_unreadable(&bytes, "cells");
}

#[test]
fn truncated_file_is_refused() {
    let bytes = book::valid().bytes();
    assert_unreadable(&bytes[..bytes.len() / 2], "damaged");
}

#[test]
fn corrupted_file_is_refused() {
    let mut bytes = book::valid().bytes();
    let mid = bytes.len() / 3;
    for b in &mut bytes[mid..mid + 200] {
        *b ^= 0x5A;
    }
    assert_unreadable(&bytes, "damaged");
}

#[test]
fn encrypted_workbook_is_refused() {
    // Encrypted with the password "sceneflow" (msoffcrypto-tool, agile encryption).
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/encrypted.xlsx"
    ))
    .unwrap();
    assert_unreadable(&bytes, "password");
}

#[test]
fn non_spreadsheets_are_refused() {
    assert_unreadable(b"", "empty");
    assert_unreadable(b"%PDF-1.7\n%binary", "PDF");
    assert_unreadable(b"\x89PNG\r\n\x1a\n....", "image");
    assert_unreadable("step,scene\nwelcome,welcome\n".as_bytes(), "CSV");
    assert_unreadable(&zip_of(&[("hello.txt", b"not a workbook")]), "damaged");
}

#[test]
fn too_many_sheets_are_refused() {
    let mut book = rust_xlsxwriter::Workbook::new();
    for i in 0..70 {
        book.add_worksheet().set_name(format!("s{i}")).unwrap();
    }
    assert_unreadable(&book.save_to_buffer().unwrap(), "sheets");
}

#[test]
fn oversized_file_is_refused_before_reading() {
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let (_, validated) = master_data::check(&book::valid().bytes(), &limits);
    assert!(validated.report.is_unreadable());
    assert!(validated.report.errors[0].message.contains("limit"));
}

/// Whatever the XML spelling, a workbook that would expand past the limits
/// is refused before it is read.
#[test]
fn expansion_bombs_are_refused_in_every_spelling() {
    for (name, bytes) in crate::support::bombs::all() {
        let (_, validated) = master_data::check(&bytes, &Limits::default());
        eprintln!("{name}: {}", validated.report.errors[0].message);
        assert!(
            validated.report.is_unreadable(),
            "{name}: {:#?}",
            validated.report
        );
    }
}
