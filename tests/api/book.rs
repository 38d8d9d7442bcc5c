//! The book runs as written (issue #29): every ```sh block of every page of
//! `docs/src/`, and of the README, is run in order as one bash script per
//! page against a real `sceneflow serve`, and what each block prints is
//! compared with the ```text block that follows it. A drifting example fails.
//!
//! The conventions (the book states them in `docs/src/introduction.md`,
//! "How this book is tested"):
//!
//! - ```` ```sh ````: run. ```` ```sh,no-run ````: shown and never run, for
//!   what cannot run here (a release build, Docker, a benchmark of minutes,
//!   a tool we do not install). [`NO_RUN`] counts them page by page, so a
//!   new one is a visible change to this file.
//! - ```` ```text ```` right after an ```` ```sh ```` block (blank lines
//!   only between) is what that block prints, standard output and error
//!   together, compared after masking. An ```` ```sh ```` block with no
//!   such text block must print nothing.
//! - Each page starts from a clean state: an empty directory laid out like
//!   a checkout (`clients/` and the sample workbook linked in), a new server
//!   there on the defaults with the sample flow loaded, the `sceneflow` of
//!   this build first on `PATH`, and an environment of `PATH`, `HOME`,
//!   `LANG` and `SF` (the server's address) alone: pages define what they
//!   use (`SF=${SF:-http://127.0.0.1:8080}`), and bash runs with
//!   `-euo pipefail`, so a variable a page never sets fails it.
//! - Each section (the text under one heading) uses its own users: a user
//!   id given to `sceneflow token` in two sections of a page fails.
//!
//! Masking, applied to both sides before they are compared:
//!
//! - `…` in the book stands for any text, lines included;
//! - times (`2026-11-30T08:49:51.167020`, `2026-12-07 23:02:11`,
//!   `2026-12-08 01:41`; with a fraction, `Z` or an offset or none) become
//!   `<time>`; a date alone is text;
//! - UUIDs become `<uuid>`; runs of 12 or more hex digits (version ids,
//!   token ids, digests, keys, signatures) become `<hex>`;
//! - admin tokens (`sfa_…`) become `<admin-token>`, JWTs `<jwt>`;
//! - `\r`, trailing spaces and trailing blank lines are dropped.
//!
//! Anything else that differs between runs (seconds, medians, counters of
//! other tests) the page does not print: it picks stable fields with `jq`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::ChildGuard;

/// Blocks shown but not run, per page (`sh,no-run`), with why.
const NO_RUN: &[(&str, usize, &str)] = &[
    (
        "README.md",
        1,
        "the two commands: a release build and the whole test suite",
    ),
    ("getting-started.md", 1, "the two commands again"),
    (
        "offline.md",
        1,
        "cargo and node suites that the test command runs anyway",
    ),
    (
        "analytics.md",
        3,
        "duckdb and bq, which the tests do not install",
    ),
    ("operations.md", 1, "docker, which the tests do not have"),
    (
        "benchmarks.md",
        4,
        "benchmarks of minutes, on release builds and PostgreSQL",
    ),
];

/// How long one page may run.
const PAGE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Block {
    info: String,
    code: String,
    /// The heading the block is under.
    section: String,
    /// 1-based line of the opening fence.
    line: usize,
}

/// The fenced blocks of a page, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::from("(top)");
    let mut lines = page.lines().enumerate();
    while let Some((at, line)) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```")
            && !info.starts_with('`')
        {
            let indent = line.len() - trimmed.len();
            let mut code = String::new();
            for (_, code_line) in lines.by_ref() {
                if code_line.trim() == "```" {
                    break;
                }
                code.push_str(code_line.get(indent..).unwrap_or(code_line.trim_start()));
                code.push('\n');
            }
            out.push(Block {
                info: info.trim().to_owned(),
                code,
                section: section.clone(),
                line: at + 1,
            });
        } else if line.starts_with('#') {
            section = line.trim_start_matches('#').trim().to_owned();
        }
    }
    out
}

/// A runnable block and the text the book says it prints (`None`: nothing).
struct Step<'a> {
    block: &'a Block,
    expected: Option<&'a Block>,
}

/// The runnable blocks of a page, each with its output block, and how many
/// were opted out.
fn steps<'a>(page: &str, blocks: &'a [Block]) -> (Vec<Step<'a>>, usize) {
    let lines: Vec<&str> = page.lines().collect();
    let mut steps = Vec::new();
    let mut no_run = 0;
    for (i, block) in blocks.iter().enumerate() {
        match block.info.as_str() {
            "sh" => {}
            "sh,no-run" => {
                no_run += 1;
                continue;
            }
            info if info.starts_with("sh") || info.starts_with("bash") || info == "shell" => {
                panic!(
                    "line {}: a shell block is ```sh or ```sh,no-run, not ```{info}",
                    block.line
                )
            }
            _ => continue,
        }
        let end = block.line + block.code.lines().count() + 1; // the closing fence, 1-based
        let expected = blocks.get(i + 1).filter(|next| {
            next.info == "text"
                && lines[end..next.line - 1]
                    .iter()
                    .all(|l| l.trim().is_empty())
        });
        steps.push(Step { block, expected });
    }
    (steps, no_run)
}

/// The book's conventions on one page that need no server: shell blocks are
/// `sh` or `sh,no-run`, the opted-out count is the one [`NO_RUN`] states,
/// and no user id is shared by two sections.
fn check_page(name: &str, page: &str) -> Vec<String> {
    let all = blocks(page);
    let (steps, no_run) = steps(page, &all);
    let mut problems = Vec::new();
    let stated = NO_RUN
        .iter()
        .find(|(p, ..)| *p == name)
        .map_or(0, |(_, n, _)| *n);
    if no_run != stated {
        problems.push(format!(
            "{name}: {no_run} blocks are sh,no-run but NO_RUN says {stated}"
        ));
    }
    let mut users: HashMap<String, String> = HashMap::new();
    for step in &steps {
        for user in token_users(&step.block.code) {
            match users.get(&user) {
                Some(section) if *section != step.block.section => problems.push(format!(
                    "{name}:{}: user {user} is used in \"{section}\" and again in \"{}\"; give each section its own user",
                    step.block.line, step.block.section
                )),
                _ => {
                    users.insert(user, step.block.section.clone());
                }
            }
        }
    }
    problems
}

/// The user ids a script gives to `sceneflow token`.
fn token_users(code: &str) -> Vec<String> {
    code.match_indices("sceneflow token ")
        .filter_map(|(at, pat)| code[at + pat.len()..].split_whitespace().next())
        .map(|word| {
            word.trim_matches(|c| matches!(c, ')' | '(' | ';' | '"' | '\''))
                .to_owned()
        })
        .filter(|user| !user.is_empty() && !user.starts_with('-'))
        .collect()
}

/// The text a block printed or the book shows, masked (see the module doc).
fn mask(text: &str) -> String {
    let text = text.replace('\r', "");
    let mut lines: Vec<String> = text.lines().map(|l| mask_line(l.trim_end())).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn mask_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let at_start = i == 0 || !word_char(chars[i - 1]);
        if at_start && let Some(len) = time_len(&chars[i..]) {
            out.push_str("<time>");
            i += len;
            continue;
        }
        if at_start && let Some(len) = uuid_len(&chars[i..]) {
            out.push_str("<uuid>");
            i += len;
            continue;
        }
        if at_start && starts_with(&chars[i..], "sfa_") {
            let len = 4 + chars[i + 4..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '-')
                .count();
            out.push_str("<admin-token>");
            i += len;
            continue;
        }
        if at_start && let Some(len) = jwt_len(&chars[i..]) {
            out.push_str("<jwt>");
            i += len;
            continue;
        }
        if at_start {
            let hex = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            let after = chars.get(i + hex).copied();
            if hex >= 12 && !after.is_some_and(word_char) {
                out.push_str("<hex>");
                i += hex;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn starts_with(chars: &[char], prefix: &str) -> bool {
    prefix
        .chars()
        .enumerate()
        .all(|(i, p)| chars.get(i) == Some(&p))
}

/// `D` a digit, `X` a hex digit, anything else itself.
fn shape(chars: &[char], pattern: &str) -> bool {
    pattern.chars().enumerate().all(|(i, p)| {
        chars.get(i).is_some_and(|&c| match p {
            'D' => c.is_ascii_digit(),
            'X' => c.is_ascii_hexdigit(),
            p => c == p,
        })
    })
}

/// `YYYY-MM-DD[T ]HH:MM`, then optional seconds, fraction and zone.
fn time_len(chars: &[char]) -> Option<usize> {
    if !(shape(chars, "DDDD-DD-DDTDD:DD") || shape(chars, "DDDD-DD-DD DD:DD")) {
        return None;
    }
    let mut len = 16;
    if shape(&chars[len..], ":DD") {
        len += 3;
    }
    if chars.get(len) == Some(&'.') {
        len += 1 + chars[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    }
    if chars.get(len) == Some(&'Z') {
        len += 1;
    } else if matches!(chars.get(len), Some('+' | '-')) && shape(&chars[len + 1..], "DD:DD") {
        len += 6;
    }
    Some(len)
}

fn uuid_len(chars: &[char]) -> Option<usize> {
    shape(chars, "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX").then_some(36)
}

/// Three base64url parts joined by dots, the first a JSON header (`eyJ`).
fn jwt_len(chars: &[char]) -> Option<usize> {
    if !starts_with(chars, "eyJ") {
        return None;
    }
    let b64 = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == '-';
    let mut len = 0;
    for part in 0..3 {
        let n = chars[len..].iter().take_while(|c| b64(c)).count();
        if n == 0 {
            return None;
        }
        len += n;
        if part < 2 {
            if chars.get(len) != Some(&'.') {
                return None;
            }
            len += 1;
        }
    }
    Some(len)
}

/// Whether `actual` is what `expected` shows, `…` standing for any text.
fn matches(expected: &str, actual: &str) -> bool {
    let pieces: Vec<&str> = expected.split('…').collect();
    if pieces.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !actual.starts_with(first)
        || !actual.ends_with(last)
        || actual.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// A fresh directory laid out like a checkout, and a server in it.
struct Stage {
    dir: tempfile::TempDir,
    out: tempfile::TempDir,
    base: String,
    _server: ChildGuard,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sceneflow"))
}

fn stage() -> Stage {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("clients"), dir.path().join("clients")).unwrap();
    std::fs::create_dir(dir.path().join("master_data")).unwrap();
    std::os::unix::fs::symlink(
        repo().join("master_data/sample_onboarding.xlsx"),
        dir.path().join("master_data/sample_onboarding.xlsx"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    // The first command of the book, in an empty directory: default database
    // and store, sample flow loaded.
    let server = Command::new(bin())
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCENEFLOW_BIND", format!("127.0.0.1:{port}"))
        .env("SCENEFLOW_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = ChildGuard::new(server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(port) {
        assert!(Instant::now() < deadline, "the server starts");
        std::thread::sleep(Duration::from_millis(50));
    }
    Stage {
        dir,
        out: tempfile::tempdir().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        _server: server,
    }
}

fn ready(port: u16) -> bool {
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    if conn
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200")
}

/// Run one page against a fresh server; the problems found, if any.
fn run_page(name: &str, page: &str) -> Vec<String> {
    let all = blocks(page);
    let (steps, _) = steps(page, &all);
    if steps.is_empty() {
        return Vec::new();
    }
    let stage = stage();
    let out = stage.out.path();
    let mut script = String::new();
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!(
            "echo {i} > '{out}/current'\n{{\n{code}}} > '{out}/{i}' 2>&1\n",
            out = out.display(),
            code = step.block.code
        ));
    }
    let home = stage.dir.path().join(".home");
    std::fs::create_dir(&home).unwrap();
    let path = format!(
        "{}:{}",
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script_file = out.join("page.sh");
    std::fs::write(&script_file, &script).unwrap();
    let mut child = Command::new("bash")
        .args(["--noprofile", "--norc", "-euo", "pipefail"])
        .arg(&script_file)
        .current_dir(stage.dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("SF", &stage.base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stray = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut stray);
    }
    let mut problems = Vec::new();
    let printed = |i: usize| std::fs::read_to_string(out.join(i.to_string())).ok();
    let current: Option<usize> = std::fs::read_to_string(out.join("current"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    if status.is_none_or(|s| !s.success()) {
        let i = current.unwrap_or(0);
        let step = &steps[i];
        let server_log =
            std::fs::read_to_string(stage.dir.path().join("server.log")).unwrap_or_default();
        problems.push(format!(
            "{name}:{}: the block {} (exit {:?})\n--- block\n{}--- printed\n{}\n--- bash\n{stray}\n--- server log (tail)\n{}",
            step.block.line,
            if status.is_none() { "timed out" } else { "failed" },
            status.and_then(|s| s.code()),
            step.block.code,
            printed(i).unwrap_or_default(),
            tail(&server_log, 30),
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let Some(actual) = printed(i) else { break };
        if status.is_none_or(|s| !s.success()) && Some(i) == current {
            break;
        }
        let actual = mask(&actual);
        let expected = step.expected.map(|b| mask(&b.code)).unwrap_or_default();
        if !matches(&expected, &actual) {
            problems.push(format!(
                "{name}:{}: the block printed other than the book shows{}\n--- block\n{}--- the book (masked)\n{expected}\n--- printed (masked)\n{actual}\n",
                step.block.line,
                if step.expected.is_none() { " (nothing: add a ```text block after it)" } else { "" },
                step.block.code,
            ));
        }
    }
    problems
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The README and every page of the book.
fn pages() -> Vec<(String, PathBuf)> {
    let mut pages = vec![("README.md".to_owned(), repo().join("README.md"))];
    let mut book: Vec<(String, PathBuf)> = std::fs::read_dir(repo().join("docs/src"))
        .expect("docs/src")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| !p.ends_with("SUMMARY.md"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    book.sort();
    pages.extend(book);
    pages
}

#[test]
fn the_book_runs_as_written() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("the book's examples use jq (apt-get install jq)");
    }
    let pages: Vec<(String, String)> = pages()
        .into_iter()
        .map(|(name, path)| (name, std::fs::read_to_string(path).unwrap()))
        .collect();
    let mut problems: Vec<String> = pages
        .iter()
        .flat_map(|(name, page)| check_page(name, page))
        .collect();
    for (name, ..) in NO_RUN {
        if !pages.iter().any(|(page, _)| page == name) {
            problems.push(format!("NO_RUN names {name}, which is no page"));
        }
    }
    let runnable: usize = pages
        .iter()
        .map(|(_, page)| steps(page, &blocks(page)).0.len())
        .sum();
    assert!(runnable > 40, "only {runnable} runnable blocks were found");

    // Two pages at a time: each has its own server.
    let queue = std::sync::Mutex::new(pages.iter());
    let found = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((name, page)) = next else { break };
                    let page_problems = run_page(name, page);
                    found.lock().unwrap().extend(page_problems);
                }
            });
        }
    });
    problems.extend(found.into_inner().unwrap());
    assert!(
        problems.is_empty(),
        "{} problems in the book:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn masking_keeps_what_matters_and_hides_what_varies() {
    let printed = r#"{"version":"e69a42561f48","at":"2026-12-08T01:10:02.5Z","run":"0b9a3c1e-5d2f-4e6a-9b7c-1d2e3f4a5b6c-3","token":"sfa_Ab-9_x"}"#;
    assert_eq!(
        mask(printed),
        r#"{"version":"<hex>","at":"<time>","run":"<uuid>-3","token":"<admin-token>"}"#
    );
    assert_eq!(
        mask("checked 2026-12-07 23:02:11 ago  \r\n\n"),
        "checked <time> ago"
    );
    assert_eq!(
        mask("sam  qa  2026-12-08 01:41  2027-03-08 01:41"),
        "sam  qa  <time>  <time>"
    );
    assert_eq!(mask("until 2027-03-01"), "until 2027-03-01");
    // Short hex and words are text: a step key, a year, a count.
    assert_eq!(mask("cafe 1994 deadbeef"), "cafe 1994 deadbeef");
    assert_eq!(mask("eyJhbGciOi.eyJzdWIi.sig_-1 x"), "<jwt> x");

    assert!(matches(
        r#"{"outcome":"accepted",…}"#,
        r#"{"outcome":"accepted","state":{}}"#
    ));
    assert!(!matches(
        r#"{"outcome":"accepted",…}"#,
        r#"{"outcome":"online_kept","state":{}}"#
    ));
    assert!(matches("a\n…\nz", "a\nb\nc\nz"));
    assert!(matches("a…b…a", "aba"));
    assert!(!matches("a…b…a", "aa"));
    assert!(!matches("ab…ba", "aba"));
    assert!(matches("", ""));
    assert!(!matches("", "something printed"));
}

#[test]
fn blocks_pair_with_the_text_that_follows_them() {
    let page = "# P\n\n```sh\necho hi\n```\n\n```text\nhi\n```\n\nprose\n\n```sh\ntrue\n```\nprose\n```text\nnot its output\n```\n\n```sh,no-run\ncargo run --release\n```\n";
    let all = blocks(page);
    let (steps, no_run) = steps(page, &all);
    assert_eq!(no_run, 1);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].expected.map(|b| b.code.as_str()), Some("hi\n"));
    assert!(steps[1].expected.is_none(), "prose between: not its output");
    assert_eq!(
        token_users("T=$(sceneflow token yuki-1); sceneflow token \"b-2\" --days 3"),
        ["yuki-1", "b-2"]
    );
}
