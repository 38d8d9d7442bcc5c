//! The admin roles (docs/src/release.md "People and tokens"): the word lives in
//! [`crate::words`]; every face checks against it.

pub use crate::words::Role;
