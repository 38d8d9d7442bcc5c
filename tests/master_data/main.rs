//! Workbook reading and validation, without a server.

#[path = "../support/mod.rs"]
mod support;

mod codes;
mod formats;
mod hostile;
mod languages;
mod migrations;
mod real;
