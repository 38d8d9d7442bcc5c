//! What the database holds of the users' runs, read straight with SQL (the
//! same on both backends), and whether it is whole: each run's state, its
//! answers, its events and its A/B assignments agree, as one write of each
//! answer leaves them (docs/src/benchmarks.md "Mobile API under load").

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;

use super::TestApp;

#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Run {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub scene_id: Option<String>,
    #[diesel(sql_type = Integer)]
    pub shown: i32,
    #[diesel(sql_type = Integer)]
    pub answered: i32,
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
}

#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Answer {
    #[diesel(sql_type = Text)]
    pub run_id: String,
    #[diesel(sql_type = Text)]
    pub scene_id: String,
    #[diesel(sql_type = Text)]
    pub step_key: String,
    #[diesel(sql_type = Text)]
    pub scene_key: String,
    #[diesel(sql_type = Text)]
    pub answer: String,
    #[diesel(sql_type = Text)]
    pub response: String,
}

#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Text)]
    pub run_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub step_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub scene_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub experiment_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub variation_id: Option<String>,
}

#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct AssignmentRow {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Text)]
    pub step_key: String,
    #[diesel(sql_type = Text)]
    pub condition_name: String,
    #[diesel(sql_type = Text)]
    pub scene_key: String,
    #[diesel(sql_type = Integer)]
    pub exposed: i32,
}

/// Every run, answer, event and assignment in the database.
pub struct Stored {
    pub runs: HashMap<String, Run>,
    /// By run id, in no particular order.
    pub answers: HashMap<String, Vec<Answer>>,
    pub events: Vec<EventRow>,
    pub assignments: Vec<AssignmentRow>,
}

impl Stored {
    /// Read in one transaction: a consistent snapshot even while a group commits.
    pub async fn read(app: &TestApp) -> Stored {
        let (runs, answers, events, assignments) = app
            .db
            .run(|c| c.transaction(|c| {
                // One snapshot for the four tables, as SQLite's read transaction gives.
                if let sceneflow::store::AnyConnection::Postgresql(_) = c {
                    c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
                }
                let runs: Vec<Run> = diesel::sql_query(
                    "SELECT id, user_id, status, scene_id, shown, answered, revision FROM runs",
                )
                .load(c)?;
                let answers: Vec<Answer> = diesel::sql_query(
                    "SELECT run_id, scene_id, step_key, scene_key, answer, response FROM run_answers",
                )
                .load(c)?;
                let events: Vec<EventRow> = diesel::sql_query(
                    "SELECT kind, user_id, run_id, step_key, scene_key, experiment_id, variation_id \
                     FROM events",
                )
                .load(c)?;
                let assignments: Vec<AssignmentRow> = diesel::sql_query(
                    "SELECT user_id, step_key, condition_name, scene_key, \
                     CASE WHEN exposed_at IS NULL THEN 0 ELSE 1 END AS exposed FROM assignments",
                )
                .load(c)?;
                Ok((runs, answers, events, assignments))
            }))
            .await
            .expect("read the runs");
        let mut by_run: HashMap<String, Vec<Answer>> = HashMap::new();
        for a in answers {
            by_run.entry(a.run_id.clone()).or_default().push(a);
        }
        Stored {
            runs: runs.into_iter().map(|r| (r.user_id.clone(), r)).collect(),
            answers: by_run,
            events,
            assignments,
        }
    }

    /// The run of `user` (one channel: the tests use no testers).
    pub fn run(&self, user: &str) -> Option<&Run> {
        self.runs.get(user)
    }

    /// The answer stored for `scene_id` of `user`'s run.
    pub fn answer(&self, user: &str, scene_id: &str) -> Option<&Answer> {
        let run = self.run(user)?;
        self.answers
            .get(&run.id)?
            .iter()
            .find(|a| a.scene_id == scene_id)
    }

    /// Everything that is not as whole writes of starts and answers leave
    /// it (no going back, no resets): empty when every run is whole.
    pub fn half_written(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut events: HashMap<&str, Vec<&EventRow>> = HashMap::new();
        for e in &self.events {
            events.entry(e.run_id.as_str()).or_default().push(e);
        }
        for run in self.runs.values() {
            let mut p =
                |what: String| problems.push(format!("{} (run {}): {what}", run.user_id, run.id));
            let answers = self.answers.get(&run.id).map_or(&[][..], |a| a.as_slice());
            let n = answers.len() as i64;
            if run.revision != n || i64::from(run.answered) != n {
                p(format!(
                    "revision {} and answered {} but {n} answers stored",
                    run.revision, run.answered
                ));
            }
            let completed = run.status == "completed";
            let shown = if completed { n } else { n + 1 };
            if i64::from(run.shown) != shown {
                p(format!("{} scenes shown for {n} answers", run.shown));
            }
            let current = (!completed).then(|| format!("{}-{}", run.id, run.shown));
            if run.scene_id != current {
                p(format!("on scene {:?}, {n} answered", run.scene_id));
            }
            // Each answer to the k-th scene returned the state after it.
            for a in answers {
                let k: i64 = match a.scene_id.strip_prefix(&format!("{}-", run.id)) {
                    Some(k) => k.parse().unwrap_or(0),
                    None => 0,
                };
                let response: Value = serde_json::from_str(&a.response).unwrap_or_default();
                let next = if k == i64::from(run.shown) && completed {
                    response["status"] == "completed"
                } else {
                    response["scene"]["id"] == format!("{}-{}", run.id, k + 1).as_str()
                };
                if k < 1 || k > n || response["progress"]["answered"] != k || !next {
                    p(format!("answer to {} returned {response}", a.scene_id));
                }
            }
            let of = |kind: &str| -> Vec<&EventRow> {
                events
                    .get(run.id.as_str())
                    .map(|es| es.iter().copied().filter(|e| e.kind == kind).collect())
                    .unwrap_or_default()
            };
            let mut answered: Vec<(Option<&str>, Option<&str>)> = of("answered")
                .iter()
                .map(|e| (e.step_key.as_deref(), e.scene_key.as_deref()))
                .collect();
            let mut expected: Vec<(Option<&str>, Option<&str>)> = answers
                .iter()
                .map(|a| (Some(a.step_key.as_str()), Some(a.scene_key.as_str())))
                .collect();
            answered.sort();
            expected.sort();
            if answered != expected {
                p(format!(
                    "answered events {answered:?}, answers {expected:?}"
                ));
            }
            if of("scene_shown").len() as i64 != i64::from(run.shown) {
                p(format!(
                    "{} scene_shown events, {} shown",
                    of("scene_shown").len(),
                    run.shown
                ));
            }
            if of("completed").len() != usize::from(completed) {
                p(format!(
                    "{} completed events, status {}",
                    of("completed").len(),
                    run.status
                ));
            }
            // An exposure is written with the assignment it exposes.
            let exposures = of("exposure");
            let exposed: Vec<&AssignmentRow> = self
                .assignments
                .iter()
                .filter(|a| a.user_id == run.user_id && a.exposed == 1)
                .collect();
            for e in &exposures {
                let experiment = e.experiment_id.as_deref().unwrap_or_default();
                let found = exposed.iter().any(|a| {
                    format!("{}:{}", a.step_key, a.condition_name) == experiment
                        && e.variation_id.as_deref() == Some(a.scene_key.as_str())
                });
                if !found {
                    p(format!("exposure {experiment} without its assignment"));
                }
            }
            if exposures.len() != exposed.len() {
                p(format!(
                    "{} exposures, {} exposed assignments",
                    exposures.len(),
                    exposed.len()
                ));
            }
        }
        problems
    }
}
