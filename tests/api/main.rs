//! HTTP tests against the real server on a random port, on SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod analytics;
mod analytics_aggregates;
mod answer_path;
mod bodies;
mod book;
mod cli;
mod cli_people;
mod crash;
mod dashboard;
mod debug;
mod events_sink;
mod faces;
mod first_hour;
mod going_back;
mod going_back_qa;
mod hardening;
mod health;
mod languages;
mod offline;
mod offline_languages;
mod onboarding;
mod outage;
mod outcomes;
mod outcomes_aggregates;
mod people;
mod real_clients;
mod release;
mod rescue;
mod rollout;
mod s3;
mod shutdown;
mod snapshots;
mod vectors;
mod versions;
mod walkthrough;
