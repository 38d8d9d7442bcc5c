//! HTTP tests against the real server on a random port, on SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod analytics;
mod analytics_aggregates;
mod cli;
mod dashboard;
mod debug;
mod events_sink;
mod health;
mod onboarding;
mod outage;
mod release;
mod s3;
mod shutdown;
mod versions;
