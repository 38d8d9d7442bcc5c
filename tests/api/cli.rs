//! The `sceneflow` binary: validate, import, export, admin-token, configuration.

use std::process::{Command, Output};

use sceneflow::master_data::{self, Limits};

use crate::support::book;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    /// A directory with a migrated database: only `serve` and `migrate`
    /// create one.
    fn new() -> Cli {
        let cli = Cli {
            dir: tempfile::tempdir().unwrap(),
        };
        assert!(cli.run(&["migrate"]).status.success());
        cli
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneflow"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/cli.db", self.dir.path().display()),
            )
            .env(
                "SCENEFLOW_STORE",
                format!("file://{}/store", self.dir.path().display()),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("the binary runs")
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validate_exit_codes_and_diagnostics() {
    let cli = Cli::new();
    let good = cli.write("good.xlsx", &book::valid().bytes());
    let out = cli.run(&["validate", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("0 errors"));

    let bad = cli.write(
        "bad.xlsx",
        &book::valid()
            .set("choices", 3, "scene", "goal_questio")
            .bytes(),
    );
    let out = cli.run(&["validate", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("error[unknown_scene] choices!A3"), "{text}");
    assert!(
        text.contains("fix: did you mean 'goal_question'?"),
        "{text}"
    );

    let out = cli.run(&["validate", &bad, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["column_letter"], "A");
    assert_eq!(report["errors"][0]["row"], 3);

    // Piped into a reader that is gone before it writes (`| true`, as
    // `| head` can be): no panic on the closed pipe.
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' validate '{bad}' --format json | true",
            env!("CARGO_BIN_EXE_sceneflow")
        ))
        .current_dir(cli.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    let junk = cli.write("junk.xlsx", b"PK\x03\x04 truncated");
    assert_eq!(cli.run(&["validate", &junk]).status.code(), Some(2));
    assert_eq!(
        cli.run(&["validate", "/no/such/file.xlsx"]).status.code(),
        Some(2)
    );
}

#[test]
fn import_deploy_export_round_trip() {
    let cli = Cli::new();
    let original = book::valid().bytes();
    let path = cli.write("flow.xlsx", &original);
    let out = cli.run(&["import", &path, "--deploy", "staging"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("staging now serves"));

    let exported = cli.dir.path().join("exported.xlsx").display().to_string();
    let out = cli.run(&["export", "--channel", "staging", &exported]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cli.run(&["validate", &exported]).status.code(), Some(0));

    let before = master_data::check(&original, &Limits::default())
        .1
        .flow
        .unwrap();
    let after = master_data::check(&std::fs::read(&exported).unwrap(), &Limits::default())
        .1
        .flow
        .unwrap();
    assert_eq!(before.without_rows(), after.without_rows());

    let out = cli.run(&["import", &exported]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("imported version"));

    assert!(
        !cli.run(&["export", "--channel", "production", &exported])
            .status
            .success()
    );
}

#[test]
fn import_refuses_an_invalid_workbook() {
    let cli = Cli::new();
    let path = cli.write("bad.xlsx", &book::valid().remove_sheet("choices").bytes());
    let out = cli.run(&["import", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing_sheet"));
}

#[test]
fn admin_token_prints_a_token() {
    let cli = Cli::new();
    let out = cli.run(&["admin-token", "--role", "qa", "--name", "yuki"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout(&out);
    assert!(token.trim().starts_with("sfa_") && token.trim().len() == 68);
    assert!(
        !cli.run(&["admin-token", "--role", "root", "--name", "x"])
            .status
            .success()
    );
}

#[test]
fn production_refuses_the_default_secret() {
    let cli = Cli::new();
    let out = cli.run_env(
        &["serve"],
        &[
            ("SCENEFLOW_ENV", "production"),
            ("SCENEFLOW_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SCENEFLOW_JWT_SECRET"));
}

#[test]
fn migrate_is_idempotent() {
    let cli = Cli::new();
    assert!(cli.run(&["migrate"]).status.success());
    assert!(cli.run(&["migrate"]).status.success());
}

/// `analytics generate` plays each user through the engine: on the sample,
/// whoever chose to lose weight is asked their weight and never their
/// sleep, and the other way round; nobody walks both branches.
#[test]
fn generated_users_take_only_paths_the_flow_produces() {
    let cli = Cli::new();
    let sample = format!(
        "{}/master_data/sample_onboarding.xlsx",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = cli.run(&["import", &sample, "--deploy", "staging"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli.run(&[
        "analytics",
        "generate",
        "--users",
        "400",
        "--channel",
        "staging",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = sceneflow::store::Db::new(&format!("sqlite://{}/cli.db", cli.dir.path().display()), 1)
        .unwrap();
    let count = |sql: &'static str| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = db.conn().unwrap();
        use diesel::RunQueryDsl;
        diesel::sql_query(sql)
            .get_result::<N>(&mut **conn)
            .unwrap()
            .n
    };
    let both = count(
        "SELECT COUNT(*) AS n FROM (SELECT run_id FROM events WHERE kind = 'scene_shown' \
         AND step_key IN ('current_weight', 'sleep_hours') GROUP BY run_id \
         HAVING COUNT(DISTINCT step_key) = 2) t",
    );
    assert_eq!(both, 0, "users walked both branches of goal");
    let branches = count(
        "SELECT COUNT(DISTINCT step_key) AS n FROM events \
         WHERE kind = 'scene_shown' AND step_key IN ('current_weight', 'sleep_hours')",
    );
    assert_eq!(branches, 2, "both branches are taken by someone");
    // Where the log's consumers stand (none has run: the server did not).
    let out = cli.run(&["analytics", "status", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["consumers"].is_array(), "{status}");
    let out = cli.run(&["analytics", "status"]);
    assert!(out.status.success());
    let completed = count("SELECT COUNT(*) AS n FROM runs WHERE status = 'completed'");
    assert!(
        completed > 100 && completed < 400,
        "{completed} of 400 completed"
    );
}
