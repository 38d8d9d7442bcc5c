//! Master data: reading workbooks (calamine → cells with positions),
//! validating them into a report and a flow, importing them as versions, and
//! exporting a flow back as a workbook.

pub mod cells;
pub mod display;
pub mod expansion;
mod expansion_xls;
pub mod export;
pub mod import;
pub mod keys;
pub mod numfmt;
pub mod ods_display;
pub mod read;
/// The report lives on the ground floor (the store keeps it with each version).
pub use crate::report;
pub mod validate;

pub use read::{Format, Limits};
pub use report::{Code, Problem, Report};
pub use validate::Validated;

/// The sample workbook, built into the binary so any working directory will do.
pub const SAMPLE_WORKBOOK: &[u8] = include_bytes!("../../master_data/sample_onboarding.xlsx");
pub const SAMPLE_FILE_NAME: &str = "sample_onboarding.xlsx";

/// Read and validate workbook bytes. An unreadable file is a report too.
pub fn check(bytes: &[u8], limits: &Limits) -> (Option<Format>, Validated) {
    match read::read_workbook(bytes, limits, validate::is_wanted_sheet) {
        Ok(raw) => (Some(raw.format), validate::validate_workbook(&raw)),
        Err(unreadable) => (
            None,
            Validated {
                report: Report::unreadable(format!("The file cannot be read: {unreadable}.")),
                flow: None,
            },
        ),
    }
}
