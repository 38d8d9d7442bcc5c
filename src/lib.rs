//! sceneflow: chat-style onboarding for mobile apps, authored as spreadsheets.

pub mod admin;
pub mod alerts;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod boundary;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod debug;
pub mod error;
pub mod flow;
pub mod health;
pub mod master_data;
pub mod metrics;
pub mod offline;
pub mod onboarding;
pub mod people;
pub mod release;
pub mod startup;
pub mod state;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod words;
