//! The admin identity of a request lives in [`crate::boundary::admin`],
//! beside the other extractors: the JSON API, the debug API and nothing
//! else take it.

pub use crate::boundary::admin::{Admin, bearer};
