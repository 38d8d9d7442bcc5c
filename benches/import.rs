//! Import benchmark: a generated workbook of 10,000 scenes over 2,000 steps
//! with 20,000 choices. Measures (a) a raw calamine read of both sheets,
//! (b) sceneflow's validate (read + every check), (c) a full import into
//! SQLite and, when `SCENEFLOW_TEST_PG_URL` is set, PostgreSQL; and the time
//! and peak memory of refusing a zip bomb. Prints medians of 5 runs.
//!
//! Run: `scripts/bench.sh` (or `cargo bench --bench import`).

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use calamine::Reader;
use diesel::Connection;
use diesel::connection::SimpleConnection;
use sceneflow::config::Settings;
use sceneflow::master_data::{self, Limits};
use sceneflow::startup::AppState;

const STEPS: usize = 2_000;
const SCENES_PER_STEP: usize = 5;
const CONDITIONS: [&str; 5] = ["", "female", "male", "from_organic", "premium_member"];

fn generate() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let scenes = book.add_worksheet().set_name("scenes").unwrap();
    let header = [
        "step",
        "scene",
        "condition",
        "weight",
        "message_1",
        "message_2",
        "input",
        "save_as",
        "min",
        "max",
        "placeholder",
        "next_step",
    ];
    for (c, h) in header.iter().enumerate() {
        scenes.write_string(0, c as u16, *h).unwrap();
    }
    let mut row = 1u32;
    let mut choice_rows = Vec::new();
    for step in 0..STEPS {
        for (k, condition) in CONDITIONS.iter().enumerate().take(SCENES_PER_STEP) {
            let key = format!("s{step}_{k}");
            scenes.write_string(row, 0, format!("step_{step}")).unwrap();
            scenes.write_string(row, 1, &key).unwrap();
            scenes.write_string(row, 2, *condition).unwrap();
            scenes.write_number(row, 3, 1.0 + k as f64).unwrap();
            scenes
                .write_string(
                    row,
                    4,
                    format!("ステップ{step}へようこそ、{{{{nickname|ゲスト}}}}さん"),
                )
                .unwrap();
            scenes
                .write_string(row, 5, "次の質問に答えてください。")
                .unwrap();
            // Half the scenes ask a choice with four buttons: 20,000 choices.
            if k % 2 == 0 && choice_rows.len() < 20_000 {
                scenes.write_string(row, 6, "choice").unwrap();
                scenes
                    .write_string(row, 7, format!("answer_{step}"))
                    .unwrap();
                for c in 0..4 {
                    let next = if step + 1 < STEPS && c == 3 {
                        format!("step_{}", step + 1)
                    } else {
                        String::new()
                    };
                    choice_rows.push((key.clone(), format!("c{c}"), format!("選択肢{c}"), next));
                }
            } else {
                scenes.write_string(row, 6, "text").unwrap();
                scenes.write_number(row, 8, 1.0).unwrap();
                scenes.write_number(row, 9, 40.0).unwrap();
                scenes.write_string(row, 10, "ここに入力").unwrap();
            }
            row += 1;
        }
    }
    let choices = book.add_worksheet().set_name("choices").unwrap();
    for (c, h) in ["scene", "choice", "label", "value", "next_step"]
        .iter()
        .enumerate()
    {
        choices.write_string(0, c as u16, *h).unwrap();
    }
    for (i, (scene, key, label, next)) in choice_rows.iter().enumerate() {
        let r = i as u32 + 1;
        choices.write_string(r, 0, scene).unwrap();
        choices.write_string(r, 1, key).unwrap();
        choices.write_string(r, 2, label).unwrap();
        if !next.is_empty() {
            choices.write_string(r, 4, next).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn raw_read(bytes: &[u8]) -> usize {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).unwrap();
    ["scenes", "choices"]
        .iter()
        .map(|s| book.worksheet_range(s).unwrap().get_size().0)
        .sum()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn zip_bomb() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_level(Some(9));
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<Types/>").unwrap();
    zip.start_file("xl/sharedStrings.xml", options).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn import_once(settings: &Settings, bytes: &[u8]) -> Duration {
    let state = AppState::connect(settings.clone()).await.unwrap();
    let start = Instant::now();
    let outcome = state
        .importer
        .import(bytes.to_vec(), None, "bench")
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        matches!(outcome, master_data::import::Outcome::Created { .. }),
        "{outcome:?}"
    );
    elapsed
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let limits = Limits::default();
    // The bomb first, so peak memory reflects it alone.
    let bomb = zip_bomb();
    let rss_before = peak_rss_kb();
    let bomb_time = time(3, || {
        assert!(master_data::check(&bomb, &limits).1.report.is_unreadable())
    });
    let bomb_rss = peak_rss_kb().saturating_sub(rss_before);

    let bytes = generate();
    let (_, validated) = master_data::check(&bytes, &limits);
    assert!(
        validated.report.errors.is_empty(),
        "{}",
        validated.report.render_text()
    );
    let flow = validated.flow.unwrap();
    println!(
        "workbook: {} steps, {} scenes, {} choices, {:.1} MB",
        flow.steps.len(),
        flow.scenes.len(),
        flow.choices.len(),
        bytes.len() as f64 / 1e6
    );
    let raw = time(5, || raw_read(&bytes));
    let wanted = master_data::validate::is_wanted_sheet;
    let read = time(5, || {
        master_data::read::read_workbook(&bytes, &limits, wanted).unwrap()
    });
    let sheets = master_data::read::read_workbook(&bytes, &limits, wanted).unwrap();
    let checks = time(5, || master_data::validate::validate_workbook(&sheets));
    let validate = time(5, || master_data::check(&bytes, &limits));
    println!(
        "(a) raw calamine read      {:>8.1} ms",
        raw.as_secs_f64() * 1e3
    );
    println!(
        "    sceneflow read         {:>8.1} ms",
        read.as_secs_f64() * 1e3
    );
    println!(
        "    checks                 {:>8.1} ms",
        checks.as_secs_f64() * 1e3
    );
    println!(
        "(b) validate               {:>8.1} ms  ({:.2}x the raw read)",
        validate.as_secs_f64() * 1e3,
        validate.as_secs_f64() / raw.as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::from_sources(None, |_| None).unwrap();
    settings.store = format!("file://{}/store", dir.path().display());
    let sqlite = runtime.block_on(async {
        let mut runs = Vec::new();
        for i in 0..5 {
            settings.database_url = format!("sqlite://{}/bench-{i}.db", dir.path().display());
            runs.push(import_once(&settings, &bytes).await);
        }
        median(runs)
    });
    println!(
        "(c) import into SQLite     {:>8.1} ms",
        sqlite.as_secs_f64() * 1e3
    );

    match std::env::var("SCENEFLOW_TEST_PG_URL") {
        Ok(base) => {
            let pg = runtime.block_on(async {
                let mut runs = Vec::new();
                for i in 0..5 {
                    let name = format!("sceneflow_test_bench_{i}");
                    let mut admin = diesel::PgConnection::establish(&base).unwrap();
                    admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .unwrap();
                    admin
                        .batch_execute(&format!("CREATE DATABASE {name}"))
                        .unwrap();
                    settings.database_url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
                    runs.push(import_once(&settings, &bytes).await);
                    admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .unwrap();
                }
                median(runs)
            });
            println!(
                "(c) import into PostgreSQL {:>8.1} ms",
                pg.as_secs_f64() * 1e3
            );
        }
        Err(_) => println!("(c) import into PostgreSQL   skipped (run scripts/bench.sh)"),
    }
    println!(
        "zip bomb ({:.1} MB → 1 GB): refused in {:.0} ms, peak memory +{} MB",
        bomb.len() as f64 / 1e6,
        bomb_time.as_secs_f64() * 1e3,
        bomb_rss / 1024
    );
}
