//! Load generator: N concurrent users each run the flow served at BASE from
//! start to completed, again and again, for a fixed time. Prints completed
//! runs/s, answers/s, request latency percentiles and errors.
//!
//! `cargo run --release --example loadgen -- --base http://127.0.0.1:8080 --users 64 --seconds 20`
//! (the tokens are signed with `SCENEFLOW_JWT_SECRET`, or the development
//! default). `scripts/load.sh` runs it against PostgreSQL next to pgbench.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    base: String,
    users: usize,
    seconds: u64,
    secret: String,
    /// Percent of runs abandoned part-way, so funnels have drop-off.
    abandon: u64,
}

fn args() -> Args {
    let mut out = Args {
        base: "http://127.0.0.1:8080".into(),
        users: 64,
        seconds: 20,
        abandon: 25,
        secret: std::env::var("SCENEFLOW_JWT_SECRET")
            .unwrap_or_else(|_| sceneflow::config::DEFAULT_JWT_SECRET.into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => out.base = value,
            "--users" => out.users = value.parse().expect("--users N"),
            "--seconds" => out.seconds = value.parse().expect("--seconds N"),
            "--abandon" => out.abandon = value.parse().expect("--abandon PERCENT"),
            other => panic!("unknown flag {other}"),
        }
    }
    out
}

/// An answer the scene accepts: the first choice, the lower bound, a name.
fn valid_answer(scene: &Value) -> Value {
    let input = &scene["input"];
    let first = || input["choices"][0]["key"].clone();
    match input["kind"].as_str().unwrap_or("none") {
        "choice" => first(),
        "multi_choice" => json!([first()]),
        "text" => json!("ゆき"),
        "number" | "date" => input["min"].clone(),
        _ => Value::Null,
    }
}

#[derive(Default)]
struct Totals {
    runs: AtomicU64,
    answers: AtomicU64,
    errors: AtomicU64,
}

const SOURCES: [&str; 3] = ["diet_campaign", "sleep_campaign", "organic"];

/// One thread: the client must stay small beside the server it measures.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.users)
        .build()
        .unwrap();
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let prefix = sceneflow::auth::random_hex(4);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..args.users {
        let (client, totals, stop) = (client.clone(), totals.clone(), stop.clone());
        let (base, secret, prefix) = (args.base.clone(), args.secret.clone(), prefix.clone());
        let abandon = args.abandon;
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            let mut starts: Vec<u32> = Vec::with_capacity(10_000);
            let mut answered_in: Vec<u32> = Vec::with_capacity(100_000);
            let mut n = 0u64;
            let micros = |t: Instant| t.elapsed().as_micros() as u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let user = format!("load-{prefix}-{worker}-{n}");
                let token = sceneflow::auth::mint_user_token(&secret, &user, 1);
                let attributes = json!({
                    "install_source": SOURCES[(n as usize + worker) % 3],
                    "nickname": if n.is_multiple_of(2) { "ゆき" } else { "" },
                    "birth_year": 1970 + (n % 40),
                });
                let t = Instant::now();
                let res = client
                    .post(format!("{base}/v1/onboarding/start"))
                    .bearer_auth(&token)
                    .json(&json!({ "attributes": attributes }))
                    .send()
                    .await;
                let mut state: Value = match res {
                    Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
                    _ => {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                latencies.push(micros(t));
                starts.push(micros(t));
                // Deterministic drop-off: some users stop after a few answers.
                let seed = n
                    .wrapping_mul(2654435761)
                    .wrapping_add(worker as u64 * 40503);
                let give_up_after = if seed % 100 < abandon {
                    1 + seed / 100 % 8
                } else {
                    u64::MAX
                };
                let mut answered = 0u64;
                while state["status"] == "in_progress" && !stop.load(Ordering::Relaxed) {
                    if answered == give_up_after {
                        break;
                    }
                    answered += 1;
                    let scene = &state["scene"];
                    let body = json!({"scene_id": scene["id"], "answer": valid_answer(scene)});
                    let t = Instant::now();
                    let res = client
                        .post(format!("{base}/v1/onboarding/answers"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => {
                            state = r.json().await.unwrap_or(Value::Null);
                            latencies.push(micros(t));
                            answered_in.push(micros(t));
                            totals.answers.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            totals.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                if state["status"] == "completed" {
                    totals.runs.fetch_add(1, Ordering::Relaxed);
                }
            }
            (latencies, starts, answered_in)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut starts, mut answers_in) = (Vec::new(), Vec::new(), Vec::new());
    for w in workers {
        let (all, of_starts, of_answers) = w.await.unwrap();
        latencies.extend(all);
        starts.extend(of_starts);
        answers_in.extend(of_answers);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    starts.sort_unstable();
    answers_in.sort_unstable();
    // Nearest-rank percentile, in ms.
    let percentile = |sorted: &[u32], p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        f64::from(sorted[i]) / 1000.0
    };
    let pct = |p: f64| percentile(&latencies, p);
    let answers = totals.answers.load(Ordering::Relaxed);
    println!(
        "users {}  seconds {:.1}  completed runs/s {:.1}  answers/s {:.1}  requests {}  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  errors {}  loadgen cpu {:.2} cores  starts p50 {:.2} ms p99 {:.2} ms  answers p50 {:.2} ms p99 {:.2} ms",
        args.users,
        elapsed,
        totals.runs.load(Ordering::Relaxed) as f64 / elapsed,
        answers as f64 / elapsed,
        latencies.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        totals.errors.load(Ordering::Relaxed),
        cpu_seconds() / elapsed,
        percentile(&starts, 0.50),
        percentile(&starts, 0.99),
        percentile(&answers_in, 0.50),
        percentile(&answers_in, 0.99),
    );
}

/// CPU time this process used (Linux; 0 elsewhere), so a run shows whether
/// the load client itself was the bottleneck.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}
