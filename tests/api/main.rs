//! HTTP tests against the real server on a random port, on SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod analytics;
mod cli;
mod dashboard;
mod debug;
mod health;
mod onboarding;
mod outage;
mod release;
mod s3;
mod shutdown;
mod snapshots;
mod versions;
