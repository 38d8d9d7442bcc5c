//! `sceneflow user …` and `admin-token …` from the command line, and the
//! rule that only `serve` and `migrate` create a database.

use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    /// A fresh directory with no database in it.
    fn empty() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn migrated() -> Cli {
        let cli = Cli::empty();
        let out = cli.run(&["migrate"], &[]);
        assert!(out.status.success(), "{}", err(&out));
        cli
    }

    fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cli.db")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sceneflow"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("SCENEFLOW_PASSWORD")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", self.db_path().display()),
            )
            .env(
                "SCENEFLOW_STORE",
                format!("file://{}/store", self.dir.path().display()),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run with stdin closed (no terminal), as under CI or cron.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const PW: (&str, &str) = ("SCENEFLOW_PASSWORD", "correct-horse-battery");

#[test]
fn commands_other_than_serve_and_migrate_refuse_to_create_a_database() {
    let cli = Cli::empty();
    let workbook = cli.dir.path().join("flow.xlsx").display().to_string();
    std::fs::write(&workbook, crate::support::book::valid().bytes()).unwrap();
    for args in [
        vec!["admin-token", "--role", "qa", "--name", "yuki"],
        vec!["admin-token", "list"],
        vec!["user", "list"],
        vec!["user", "remove", "ada"],
        vec!["import", workbook.as_str()],
        vec!["export", "--channel", "staging", "out.xlsx"],
    ] {
        let o = cli.run(&args, &[PW]);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let message = err(&o);
        assert!(
            message.contains(&format!("no database at {}", cli.db_path().display())),
            "{args:?}: {message}"
        );
        assert!(message.contains("sceneflow migrate"), "{message}");
        assert!(!cli.db_path().exists(), "{args:?} created the database");
    }
    // `token` needs no database; `migrate` creates it.
    assert!(cli.run(&["token", "u-1"], &[]).status.success());
    assert!(cli.run(&["migrate"], &[]).status.success());
    assert!(cli.db_path().exists());
    assert!(cli.run(&["user", "list"], &[]).status.success());
}

#[test]
fn user_add_without_a_terminal_reads_stdin_or_says_how() {
    let cli = Cli::migrated();
    let o = cli.run(&["user", "add", "ada", "--role", "admin"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let message = err(&o);
    assert!(
        message.contains("SCENEFLOW_PASSWORD") && message.contains("stdin"),
        "{message}"
    );
    assert!(!message.contains("os error"), "{message}");

    let o = cli.run_with_stdin(
        &["user", "add", "ada", "--role", "admin"],
        "correct-horse-battery\n",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("ada can sign in to the dashboard as admin"));

    let o = cli.run_with_stdin(&["user", "add", "bob", "--role", "qa"], "short\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("at least 8 characters"), "{}", err(&o));
}

#[test]
fn users_are_listed_changed_and_removed_and_never_silently_replaced() {
    let cli = Cli::migrated();
    let add = |name: &str, role: &str, extra: &[&str]| {
        let mut args = vec!["user", "add", name, "--role", role];
        args.extend_from_slice(extra);
        cli.run(&args, &[PW])
    };
    assert!(add("ada", "admin", &[]).status.success());
    assert!(add("olive", "operator", &[]).status.success());

    let o = add("olive", "admin", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("exists already"), "{}", err(&o));
    assert!(err(&o).contains("--reset-password"), "{}", err(&o));
    let list = out(&cli.run(&["user", "list"], &[]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("olive") && l.contains("operator")),
        "{list}"
    );

    let o = add("olive", "qa", &["--reset-password"]);
    assert!(o.status.success(), "{}", err(&o));
    let list = out(&cli.run(&["user", "list"], &[]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("olive") && l.contains("qa")),
        "{list}"
    );

    let o = cli.run(
        &["user", "passwd", "olive"],
        &[("SCENEFLOW_PASSWORD", "another-long-one")],
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = cli.run(&["user", "passwd", "nobody"], &[PW]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("there is no user 'nobody'"), "{}", err(&o));

    assert!(cli.run(&["user", "remove", "olive"], &[]).status.success());
    let list = out(&cli.run(&["user", "list"], &[]));
    assert!(!list.contains("olive") && list.contains("ada"), "{list}");
    assert_eq!(
        cli.run(&["user", "remove", "olive"], &[]).status.code(),
        Some(1)
    );
}

#[test]
fn admin_tokens_are_listed_and_revoked_by_id() {
    let cli = Cli::migrated();
    let o = cli.run(&["admin-token", "--role", "qa", "--name", "quinn"], &[]);
    assert!(o.status.success(), "{}", err(&o));
    let token = out(&o).trim().to_owned();
    let id = &sceneflow::auth::sha256_hex(token.as_bytes())[..12];
    assert!(
        cli.run(&["admin-token", "--role", "admin", "--name", "ada"], &[])
            .status
            .success()
    );

    let list = out(&cli.run(&["admin-token", "list"], &[]));
    let line = list
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} in {list}"));
    assert!(line.contains("quinn") && line.contains("qa"), "{line}");
    assert!(!list.contains(&token), "the list never shows a token");

    let o = cli.run(&["admin-token", "revoke", id], &[]);
    assert!(o.status.success(), "{}", err(&o));
    let list = out(&cli.run(&["admin-token", "list"], &[]));
    assert!(!list.contains(id) && list.contains("ada"), "{list}");

    for bad in [id, "zzzz", "000000000000"] {
        let o = cli.run(&["admin-token", "revoke", bad], &[]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(err(&o).contains("admin-token list"), "{}", err(&o));
    }
    // The old form still needs both --role and --name.
    assert!(
        !cli.run(&["admin-token", "--role", "qa"], &[])
            .status
            .success()
    );
}

#[test]
fn every_help_lists_the_environment_it_reads() {
    let cli = Cli::empty();
    for (args, var) in [
        (vec!["--help"], "DATABASE_URL"),
        (vec!["serve", "--help"], "SCENEFLOW_BIND"),
        (vec!["import", "--help"], "SCENEFLOW_STORE"),
        (vec!["token", "--help"], "SCENEFLOW_JWT_SECRET"),
        (vec!["admin-token", "--help"], "DATABASE_URL"),
        (vec!["admin-token", "revoke", "--help"], "DATABASE_URL"),
        (vec!["user", "add", "--help"], "SCENEFLOW_PASSWORD"),
        (vec!["validate", "--help"], "Environment: none"),
    ] {
        let o = cli.run(&args, &[]);
        assert!(o.status.success(), "{args:?}");
        assert!(out(&o).contains(var), "{args:?}: {}", out(&o));
    }
}
