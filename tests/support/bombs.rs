//! Workbooks crafted to expand in memory, in every XML spelling a reader
//! accepts (and .xls files in BIFF records): each must be refused as `unreadable_workbook` while the process
//! stays within its memory budget.

use std::io::{Read, Write};

use zip::write::SimpleFileOptions;

const ODS_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:t="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet>"#;
const ODS_TAIL: &str = "</office:spreadsheet></office:body></office:document-content>";

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

pub fn ods(tables: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "mimetype",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("content.xml", deflated()).unwrap();
    zip.write_all(ODS_HEAD.as_bytes()).unwrap();
    zip.write_all(tables.as_bytes()).unwrap();
    zip.write_all(ODS_TAIL.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A valid workbook with some parts replaced (or added).
pub fn xlsx_with(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let base = super::book::valid().bytes();
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(base)).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..source.len() {
        let mut entry = source.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        if parts.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        zip.start_file(name, deflated()).unwrap();
        zip.write_all(&data).unwrap();
    }
    for (name, data) in parts {
        zip.start_file(*name, deflated()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn sheet(rows: impl Iterator<Item = String>) -> Vec<u8> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for row in rows {
        xml.push_str(&row);
    }
    xml.push_str("</sheetData></worksheet>");
    xml.into_bytes()
}

/// Every crafted workbook, named.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    let cell = |attrs: &str, text: &str| {
        format!(
            "<table:table-cell {attrs} office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
        )
    };
    let long_text = "y".repeat(60_000);
    let many_rows: String = (0..5_000)
        .map(|_| {
            format!(
                "<table:table-row>{}</table:table-row>",
                cell("table:number-columns-repeated=\"16384\"", "x")
            )
        })
        .collect();
    let shared_strings = {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        );
        for _ in 0..5_000_000 {
            xml.push_str("<si><t>x</t></si>");
        }
        xml.push_str("</sst>");
        xml.into_bytes()
    };
    let one_long_string = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>{}</t></si></sst>"#,
        "z".repeat(2_000_000)
    );
    let mut all = vec![
        (
            "ods, single quotes",
            ods(&format!(
                "<table:table table:name='scenes'><table:table-row table:number-rows-repeated='400000'>{}</table:table-row></table:table>",
                "<table:table-cell table:number-columns-repeated='250' office:value-type='string'><text:p>x</text:p></table:table-cell>"
            )),
        ),
        (
            "ods, another namespace prefix",
            ods(&format!(
                "<t:table t:name=\"scenes\"><t:table-row t:number-rows-repeated=\"400000\">{}</t:table-row></t:table>",
                "<t:table-cell t:number-columns-repeated=\"250\" office:value-type=\"string\"><text:p>x</text:p></t:table-cell>"
            )),
        ),
        (
            "ods, entity-encoded numbers",
            ods(&format!(
                "<table:table table:name=\"scenes\"><table:table-row table:number-rows-repeated=\"&#52;00000\">{}</table:table-row></table:table>",
                cell("table:number-columns-repeated=\"&#50;50\"", "x")
            )),
        ),
        (
            "ods, columns repeated on thousands of rows",
            ods(&format!(
                "<table:table table:name=\"scenes\">{many_rows}</table:table>"
            )),
        ),
        (
            "ods, long text repeated",
            ods(&format!(
                "<table:table table:name=\"scenes\"><table:table-row table:number-rows-repeated=\"50\">{}</table:table-row></table:table>",
                cell("table:number-columns-repeated=\"250\"", &long_text)
            )),
        ),
        (
            "xlsx, row and cell references jumping",
            xlsx_with(&[(
                "xl/worksheets/sheet1.xml",
                &sheet(
                    (1..100_000)
                        .map(|r| format!("<row r=\"{r}\"><c r=\"IV{r}\"><v>1</v></c></row>")),
                ),
            )]),
        ),
        (
            "xlsx, millions of shared strings",
            xlsx_with(&[("xl/sharedStrings.xml", &shared_strings)]),
        ),
        (
            "xlsx, one long shared string in many cells",
            xlsx_with(&[
                ("xl/sharedStrings.xml", one_long_string.as_bytes()),
                (
                    "xl/worksheets/sheet1.xml",
                    &sheet((1..2_000).map(|r| {
                        format!("<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>0</v></c></row>")
                    })),
                ),
            ]),
        ),
    ];
    all.extend(xls_all());
    all
}

/// A BIFF8 record: type, length, data.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut r = typ.to_le_bytes().to_vec();
    r.extend((data.len() as u16).to_le_bytes());
    r.extend(data);
    r
}

/// A minimal .xls: one sheet `scenes` holding `records`, after `globals`
/// (an SST, say) in the workbook globals.
pub fn xls(globals: &[u8], records: &[u8]) -> Vec<u8> {
    let bof = |kind: u16| {
        let mut d = vec![0x00, 0x06];
        d.extend(kind.to_le_bytes());
        d.extend([0; 12]);
        biff(0x0809, &d)
    };
    let sheet_entry = |pos: u32| {
        let mut d = pos.to_le_bytes().to_vec();
        d.extend([0, 0, 6, 0]);
        d.extend(b"scenes");
        biff(0x0085, &d)
    };
    let head = bof(0x0005).len() + sheet_entry(0).len() + globals.len() + 4;
    let mut stream = bof(0x0005);
    stream.extend(sheet_entry(head as u32));
    stream.extend(globals);
    stream.extend(biff(0x000A, &[]));
    stream.extend(bof(0x0010));
    stream.extend(records);
    stream.extend(biff(0x000A, &[]));
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    file.create_stream("/Workbook")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// A NUMBER record at (row, col).
pub fn xls_number(row: u16, col: u16) -> Vec<u8> {
    let mut d = row.to_le_bytes().to_vec();
    d.extend(col.to_le_bytes());
    d.extend([0; 10]);
    biff(0x0203, &d)
}

/// .xls files that calamine would expand past the limits.
pub fn xls_all() -> Vec<(&'static str, Vec<u8>)> {
    let far_apart = [xls_number(0, 0), xls_number(65_535, 255)].concat();
    // One 32,000-character shared string, in an SST and its CONTINUEs,
    // then 50,000 cells pointing at it.
    let mut sst = [1u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    sst.extend(32_000u16.to_le_bytes());
    sst.push(0);
    sst.extend(vec![b'x'; 8_000]);
    let mut globals = biff(0x00FC, &sst);
    for _ in 0..3 {
        globals.extend(biff(0x003C, &[[0u8].as_slice(), &[b'y'; 8_000]].concat()));
    }
    let labels: Vec<u8> = (0..50_000u16)
        .flat_map(|row| {
            let mut d = row.to_le_bytes().to_vec();
            d.extend([0; 4]);
            d.extend(0u32.to_le_bytes());
            biff(0x00FD, &d)
        })
        .collect();
    let mut dimensions = 0u32.to_le_bytes().to_vec();
    dimensions.extend(u32::MAX.to_le_bytes());
    dimensions.extend([0, 0, 0, 1, 0, 0]);
    vec![
        ("xls, two far-apart cells", xls(&[], &far_apart)),
        (
            "xls, one long shared string in many cells",
            xls(&globals, &labels),
        ),
        (
            "xls, dimensions claiming billions of cells",
            xls(&[], &[biff(0x0200, &dimensions), xls_number(0, 0)].concat()),
        ),
    ]
}
