//! Writes the conformance vectors of offline players (docs/src/offline.md):
//! `conformance/bundles/NAME.json` and `conformance/cases.jsonl`.
//!
//! ```sh
//! cargo run --example conformance            # rewrites conformance/
//! ```
//!
//! Deterministic: the same engine writes the same files.

use std::io::Write;

use sceneflow::flow::CompiledFlow;
use sceneflow::flow::conformance;
use sceneflow::master_data::{self, Limits, SAMPLE_WORKBOOK};

/// At least the thousand cases the player's specification promises.
const CASES: usize = 1200;
/// More cases on flows with texts in several languages (docs/src/offline.md "Languages
/// offline").
const TRANSLATED_CASES: usize = 400;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("conformance".into()));
    let (_, validated) = master_data::check(SAMPLE_WORKBOOK, &Limits::default());
    let sample = validated.flow.ok_or("the sample workbook is invalid")?;
    let version = sceneflow::auth::sha256_hex(SAMPLE_WORKBOOK)[..12].to_owned();
    let (bundles, cases) = conformance::generate(
        CompiledFlow::compile(version, sample),
        CASES,
        TRANSLATED_CASES,
    );
    std::fs::create_dir_all(dir.join("bundles"))?;
    for (name, doc) in &bundles {
        let mut text = serde_json::to_string_pretty(doc)?;
        text.push('\n');
        std::fs::write(dir.join("bundles").join(format!("{name}.json")), text)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("cases.jsonl"))?);
    for case in &cases {
        writeln!(out, "{}", serde_json::to_string(case)?)?;
    }
    out.flush()?;
    println!(
        "{} bundles, {} cases in {}",
        bundles.len(),
        cases.len(),
        dir.display()
    );
    Ok(())
}
