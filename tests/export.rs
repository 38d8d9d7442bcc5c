//! Exporting a million events keeps memory flat. Its own test binary, so
//! nothing else allocates in the process while its memory is sampled.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sceneflow::auth::Role;
use support::{Backend, spawn_app_with};

const EVENTS: i64 = 1_000_000;

fn resident_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_stream_with_flat_memory() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.sample = true).await;
    app.exec(
        "INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel, step_key, scene_key, experiment_id, variation_id)
         WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000000)
         SELECT CASE n % 3 WHEN 0 THEN 'scene_shown' WHEN 1 THEN 'answered' ELSE 'exposure' END,
                datetime('2026-11-25 00:00:00', '+' || (n % 86400) || ' seconds'),
                'user-' || (n / 7), 'run-' || (n / 7), '4cdf2923d95f', 'production', 'intro', 'intro_coach',
                'intro:pass_through', 'intro_coach'
         FROM seq",
    )
    .await;
    assert_eq!(app.count("events").await, EVENTS);
    let token = app.token(Role::Operator).await;

    let baseline = resident_kb();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(resident_kb(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let res = app.get(&token, "/admin/api/events?format=ndjson").await;
    let mut stream = res.bytes_stream();
    let (mut lines, mut bytes) = (0i64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as i64;
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let growth_mb = (peak.load(Ordering::Relaxed).saturating_sub(baseline)) as f64 / 1024.0;
    let output_mb = bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "export: {lines} events, {output_mb:.0} MB of NDJSON in {:.1} s; resident memory grew {growth_mb:.1} MB",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lines, EVENTS);
    // Buffering the export would grow memory by about its size; paging keeps
    // it to a few pages.
    assert!(
        growth_mb < output_mb / 4.0 && growth_mb < 64.0,
        "memory grew {growth_mb:.1} MB while streaming {output_mb:.0} MB"
    );
}
