//! HTTP tests against the real server on a random port, on SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod analytics;
mod analytics_aggregates;
mod cli;
mod cli_people;
mod dashboard;
mod debug;
mod events_sink;
mod first_hour;
mod going_back;
mod hardening;
mod health;
mod languages;
mod onboarding;
mod outage;
mod people;
mod real_clients;
mod release;
mod s3;
mod shutdown;
mod snapshots;
mod statements;
mod versions;
mod walkthrough;
