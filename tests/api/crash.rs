//! kill -9 under load: every answer the server acknowledged is stored, and
//! nothing is stored half-written (docs/src/benchmarks.md "Mobile API under load"). A real
//! `sceneflow serve` process with group commit on takes answers from
//! concurrent users and is killed with SIGKILL while answers are in flight;
//! a new process on the same database must hold every acknowledged answer,
//! with runs, answers and events that agree, and let every user go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::stall::Stall;
use crate::support::stored::Stored;
use crate::support::{Backend, ChildGuard, TestApp, spawn_app_with, valid_answer};

on_both_backends!(
    acknowledged_answers_survive_kill_9_under_load,
    a_group_cut_by_kill_9_leaves_none_of_it,
);

/// The server as it ships, group commit at its longest wait (the largest
/// groups); the analytics aggregator off, so the answers' writes are the
/// only ones.
const SERVER: &[(&str, &str)] = &[
    ("SCENEFLOW_GROUP_COMMIT_US", "2000"),
    ("SCENEFLOW_WORKERS", "2"),
    ("SCENEFLOW_ANALYTICS_INTERVAL_MS", "0"),
    // A good neighbour on a shared PostgreSQL: the killed processes'
    // connections close as the kernel closes their sockets.
    ("SCENEFLOW_DB_POOL_SIZE", "8"),
];
const CLIENTS: usize = 24;
const ROUNDS: usize = 3;
/// Answers acknowledged in a round before the kill.
const ACKED_BEFORE_KILL: usize = 250;

async fn sample(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.sample = true;
        s.analytics.interval = Duration::ZERO;
    })
    .await
}

/// A mobile app talking to one server process.
#[derive(Clone)]
struct Mobile {
    base: String,
    client: reqwest::Client,
    secret: String,
}

/// What came back for a request.
#[derive(Debug)]
enum Reply {
    /// 2xx: acknowledged, with the state.
    Acked(Value),
    /// A status that is not 2xx, with its body.
    Refused(StatusCode, Value),
    /// No response (the server died): stored or not, unknown. Why, for
    /// the messages.
    Lost(String),
}

impl Mobile {
    fn new(app: &TestApp, base: &str) -> Mobile {
        Mobile {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            secret: app.settings.jwt_secret.clone(),
        }
    }

    async fn call(&self, user: &str, path: &str, body: Option<Value>) -> Reply {
        let token = sceneflow::auth::mint_user_token(&self.secret, user, 1);
        let url = format!("{}{path}", self.base);
        let req = match body {
            Some(body) => self.client.post(url).json(&body),
            None => self.client.get(url),
        };
        let res = match req.bearer_auth(token).send().await {
            Ok(res) => res,
            Err(e) => return Reply::Lost(format!("{e:?}")),
        };
        let status = res.status();
        // A body cut off by the kill acknowledged nothing to the app.
        let body = match res.json::<Value>().await {
            Ok(body) => body,
            Err(e) => return Reply::Lost(format!("{status}, then {e:?}")),
        };
        if status.is_success() {
            Reply::Acked(body)
        } else {
            Reply::Refused(status, body)
        }
    }

    async fn start(&self, user: &str) -> Reply {
        self.call(
            user,
            "/v1/onboarding/start",
            Some(json!({"attributes": {}})),
        )
        .await
    }

    async fn answer(&self, user: &str, scene_id: &str, answer: &Value) -> Reply {
        let body = json!({"scene_id": scene_id, "answer": answer});
        self.call(user, "/v1/onboarding/answers", Some(body)).await
    }
}

/// What one user's app saw.
#[derive(Debug, Default)]
struct UserLog {
    user: String,
    /// The state `start` acknowledged.
    started: Option<Value>,
    /// Answers acknowledged, in order: scene id, answer, state returned.
    acked: Vec<(String, Value, Value)>,
    /// The answer sent when the server died: scene id, answer.
    in_flight: Option<(String, Value)>,
    /// Why the last request got no response.
    lost: Option<String>,
}

impl UserLog {
    fn last_state(&self) -> Option<&Value> {
        self.acked
            .last()
            .map(|(_, _, s)| s)
            .or(self.started.as_ref())
    }
}

/// One app after another: start a user, answer until completed, next user;
/// returns at the first request the server never answered.
async fn play(mobile: Mobile, prefix: String, acked: Arc<AtomicUsize>) -> Vec<UserLog> {
    let mut logs = Vec::new();
    for n in 0.. {
        let mut log = UserLog {
            user: format!("{prefix}-{n}"),
            ..UserLog::default()
        };
        let mut state = match mobile.start(&log.user).await {
            Reply::Acked(state) => state,
            Reply::Lost(why) => {
                log.lost = Some(why);
                logs.push(log);
                return logs;
            }
            Reply::Refused(status, body) => panic!("start {}: {status} {body}", log.user),
        };
        log.started = Some(state.clone());
        while state["status"] == "in_progress" {
            let scene_id = state["scene"]["id"].as_str().unwrap().to_owned();
            let answer = valid_answer(&state["scene"]);
            match mobile.answer(&log.user, &scene_id, &answer).await {
                Reply::Acked(next) => {
                    log.acked.push((scene_id, answer, next.clone()));
                    acked.fetch_add(1, Ordering::SeqCst);
                    state = next;
                }
                Reply::Lost(why) => {
                    log.in_flight = Some((scene_id, answer));
                    log.lost = Some(why);
                    logs.push(log);
                    return logs;
                }
                Reply::Refused(status, body) => {
                    panic!("answer {} to {scene_id}: {status} {body}", log.user)
                }
            }
        }
        logs.push(log);
    }
    unreachable!()
}

/// Kill the process with SIGKILL (`Child::kill`): no shutdown, no flush.
fn kill_9(server: &mut ChildGuard) {
    server.stop();
}

async fn acknowledged_answers_survive_kill_9_under_load(backend: Backend) {
    let app = sample(backend).await;
    let mut users: Vec<UserLog> = Vec::new();
    let (mut base, mut server) = app.spawn_process_with(SERVER).await;
    for round in 0..ROUNDS {
        let acked = Arc::new(AtomicUsize::new(0));
        let apps: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let mobile = Mobile::new(&app, &base);
                tokio::spawn(play(mobile, format!("r{round}-c{i}"), acked.clone()))
            })
            .collect();
        // A bound against a hang, not a measurement.
        let since = Instant::now();
        while acked.load(Ordering::SeqCst) < ACKED_BEFORE_KILL {
            if apps.iter().any(|a| a.is_finished()) {
                kill_9(&mut server);
                let mut why = Vec::new();
                for a in apps {
                    let logs = a.await.expect("the app's checks hold");
                    why.extend(logs.into_iter().filter_map(|l| Some((l.user, l.lost?))));
                }
                panic!("an app lost its server before the kill: {why:?}");
            }
            assert!(
                since.elapsed() < Duration::from_secs(120),
                "{} answers acknowledged in 120 s",
                acked.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        kill_9(&mut server);
        let mut in_flight = 0;
        for a in apps {
            let logs = a.await.expect("the app's checks hold");
            in_flight += logs.iter().filter(|l| l.in_flight.is_some()).count();
            users.extend(logs);
        }

        (base, server) = app.spawn_process_with(SERVER).await;
        let mobile = Mobile::new(&app, &base);
        let stored = Stored::read(&app).await;
        let committed = users
            .iter()
            .filter_map(|u| Some((&u.user, &u.in_flight.as_ref()?.0)))
            .filter(|(user, scene_id)| stored.answer(user, scene_id).is_some())
            .count();
        eprintln!(
            "round {round}: killed after {} answers acknowledged ({} users so far); \
             {in_flight} answers in flight, {committed} of them stored",
            acked.load(Ordering::SeqCst),
            users.len()
        );
        let mut lost = Vec::new();
        for u in &users {
            lost.extend(missing(&stored, u));
        }
        assert!(
            lost.is_empty(),
            "{} acknowledged writes not stored after kill -9, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        let broken = stored.half_written();
        assert!(
            broken.is_empty(),
            "{} half-written runs after kill -9, e.g. {:?}",
            broken.len(),
            &broken[..broken.len().min(5)]
        );

        // Each app goes on from where the store says, on the new process.
        let goes_on: Vec<_> = std::mem::take(&mut users)
            .into_iter()
            .map(|u| {
                let mobile = mobile.clone();
                let run = stored.run(&u.user).cloned();
                tokio::spawn(go_on(mobile, u, run))
            })
            .collect();
        for g in goes_on {
            users.push(g.await.expect("the user goes on without errors"));
        }
        let stored = Stored::read(&app).await;
        assert_eq!(stored.half_written(), Vec::<String>::new());
        for u in &users {
            assert_eq!(missing(&stored, u), Vec::<String>::new());
            assert_eq!(stored.run(&u.user).unwrap().status, "completed");
        }
    }
}

/// The writes `log` saw acknowledged that the store does not hold.
fn missing(stored: &Stored, log: &UserLog) -> Vec<String> {
    let user = &log.user;
    let mut lost = Vec::new();
    let Some(run) = stored.run(user) else {
        if log.started.is_some() {
            lost.push(format!("{user}: acknowledged start, no run"));
        }
        return lost;
    };
    for (scene_id, answer, state) in &log.acked {
        match stored.answer(user, scene_id) {
            None => lost.push(format!(
                "{user}: acknowledged answer to {scene_id} not stored"
            )),
            Some(a) => {
                let stored_answer: Value = serde_json::from_str(&a.answer).unwrap();
                let response: Value = serde_json::from_str(&a.response).unwrap();
                if &stored_answer != answer || &response != state {
                    lost.push(format!(
                        "{user}: {scene_id} stored as {stored_answer} -> {response}, acknowledged {answer} -> {state}"
                    ));
                }
            }
        }
    }
    // At least as far as the last state the app was given.
    if let Some(last) = log.last_state() {
        let answered = last["progress"]["answered"].as_i64().unwrap();
        if i64::from(run.answered) < answered
            || (last["status"] == "completed" && run.status != "completed")
        {
            lost.push(format!(
                "{user}: stored at {} answered ({}), the app was told {answered} ({})",
                run.answered, run.status, last["status"]
            ));
        }
    }
    lost
}

/// The app after the crash: the state the new process serves is the
/// stored one; the answer that was in flight is sent again (stored: the
/// same state again; not stored: answered now); then on to the end.
async fn go_on(
    mobile: Mobile,
    mut log: UserLog,
    run: Option<crate::support::stored::Run>,
) -> UserLog {
    let user = log.user.clone();
    let mut state = match (
        &run,
        mobile.call(&user, "/v1/onboarding/current", None).await,
    ) {
        (Some(run), Reply::Acked(state)) => {
            assert_eq!(
                state["progress"]["answered"], run.answered,
                "{user}: {state}"
            );
            assert_eq!(
                state["scene"]["id"].as_str(),
                run.scene_id.as_deref(),
                "{user}"
            );
            state
        }
        (None, Reply::Refused(StatusCode::NOT_FOUND, _)) => match mobile.start(&user).await {
            Reply::Acked(state) => {
                log.started = Some(state.clone());
                state
            }
            other => panic!("start {user} again: {other:?}"),
        },
        (run, other) => panic!("current of {user} (stored {run:?}): {other:?}"),
    };
    if let Some((scene_id, answer)) = log.in_flight.take() {
        match mobile.answer(&user, &scene_id, &answer).await {
            Reply::Acked(next) => {
                log.acked.push((scene_id, answer, next.clone()));
                state = next;
            }
            other => panic!("{user} sends {scene_id} again: {other:?}"),
        }
    }
    while state["status"] == "in_progress" {
        let scene_id = state["scene"]["id"].as_str().unwrap().to_owned();
        let answer = valid_answer(&state["scene"]);
        match mobile.answer(&user, &scene_id, &answer).await {
            Reply::Acked(next) => {
                log.acked.push((scene_id, answer, next.clone()));
                state = next;
            }
            other => panic!("{user} answers {scene_id} after the crash: {other:?}"),
        }
    }
    log
}

async fn a_group_cut_by_kill_9_leaves_none_of_it(backend: Backend) {
    const USERS: usize = 8;
    let app = sample(backend).await;
    let (base, mut server) = app.spawn_process_with(SERVER).await;
    let mobile = Mobile::new(&app, &base);
    let mut states = Vec::new();
    for i in 0..USERS {
        let user = format!("cut-{i}");
        match mobile.start(&user).await {
            Reply::Acked(state) => states.push((user, state)),
            other => panic!("start {user}: {other:?}"),
        }
    }
    let mut stall = Stall::install(&app).await;
    let sent: Vec<_> = states
        .iter()
        .map(|(user, state)| {
            let (mobile, user) = (mobile.clone(), user.clone());
            let scene_id = state["scene"]["id"].as_str().unwrap().to_owned();
            let answer = valid_answer(&state["scene"]);
            tokio::spawn(async move { mobile.answer(&user, &scene_id, &answer).await })
        })
        .collect();
    // Held at the stall three looks in a row: a group's transaction
    // otherwise lasts milliseconds. A bound against a hang, not a measurement.
    let mut held = 0;
    for _ in 0..6000 {
        held = if stall.holds_a_group(&app).await {
            held + 1
        } else {
            0
        };
        if held == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(held, 3, "no group reached the stall");
    kill_9(&mut server);
    for s in sent {
        let reply = s.await.unwrap();
        assert!(
            matches!(reply, Reply::Lost(_)),
            "an answer of a group that never committed was acknowledged: {reply:?}"
        );
    }
    stall.release(&app).await;

    let stored = Stored::read(&app).await;
    assert_eq!(stored.half_written(), Vec::<String>::new());
    for (user, _) in &states {
        let run = stored.run(user).unwrap();
        assert_eq!(
            (run.revision, run.answered),
            (0, 0),
            "{user}: part of the cut group is stored"
        );
    }
    // The apps send their answers again to a new process: all taken.
    let (base, _server) = app.spawn_process_with(SERVER).await;
    let mobile = Mobile::new(&app, &base);
    for (user, state) in &states {
        let scene_id = state["scene"]["id"].as_str().unwrap();
        let reply = mobile
            .answer(user, scene_id, &valid_answer(&state["scene"]))
            .await;
        assert!(matches!(reply, Reply::Acked(_)), "{user}: {reply:?}");
    }
    let stored = Stored::read(&app).await;
    assert_eq!(stored.half_written(), Vec::<String>::new());
    for (user, _) in &states {
        assert_eq!(stored.run(user).unwrap().answered, 1, "{user}");
    }
}
