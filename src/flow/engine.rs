//! A version compiled once into indexes, and the selection rules of the README
//! ("The workbook", "A/B assignment, byte for byte"):
//! which scene a user sees at a step, and where an answer leads.
//!
//! Nothing here reads a database: the user's stored A/B assignments come in
//! as data ([`Assignments`]), and what a selection changes goes out as data
//! ([`Decision`]) for the caller to store.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::bucket;
use super::conditions::{self, Attributes};
use super::decision::{Assignments, Decision};
use super::model::{ChoiceDef, FlowDef, SceneDef, Target};

/// A flow ready to run: the definition plus indexes by key and by step.
#[derive(Debug)]
pub struct CompiledFlow {
    pub version: String,
    pub def: FlowDef,
    step_index: HashMap<String, usize>,
    scene_index: HashMap<String, usize>,
    /// Scene indexes of each step, in sheet order.
    scenes_by_step: Vec<Vec<usize>>,
    /// Choice indexes of each scene, in sheet order.
    choices_by_scene: Vec<Vec<usize>>,
    /// Fewest steps from each step to the end, the step itself included.
    remaining: Vec<u32>,
    /// The languages the workbook provides besides its default.
    locales: Vec<String>,
    /// The rows of each step that share a condition, in sheet order; the
    /// A/B group they form when they are several.
    rows: Vec<Rows>,
    /// Index into `rows` of each scene.
    row_of_scene: Vec<usize>,
}

/// The scenes of one step with one condition.
#[derive(Debug)]
struct Rows {
    members: Vec<usize>,
    group: Option<Group>,
}

/// An experiment: the A/B group of one step and condition. Written
/// `step:condition` (the README's "A/B assignment, byte for byte"); keys and
/// condition names never contain `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExperimentId {
    pub step: String,
    pub condition: String,
}

impl ExperimentId {
    pub fn new(step: impl Into<String>, condition: impl Into<String>) -> ExperimentId {
        ExperimentId {
            step: step.into(),
            condition: condition.into(),
        }
    }

    /// The id as stored in events and warehouse tables.
    pub fn parse(text: &str) -> Option<ExperimentId> {
        let (step, condition) = text.split_once(':')?;
        Some(ExperimentId::new(step, condition))
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.step, self.condition)
    }
}

impl Serialize for ExperimentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl PartialEq<&str> for ExperimentId {
    fn eq(&self, other: &&str) -> bool {
        ExperimentId::parse(other).as_ref() == Some(self)
    }
}

/// Where the flow goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Step(usize),
    End,
}

/// An A/B group: the scenes of one step that share the matching condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// `step:condition`, the experiment id of warehouse exposure tables.
    pub experiment_id: ExperimentId,
    pub condition: String,
    /// Scene keys and weights, in sheet order.
    pub variants: Vec<(String, f64)>,
}

/// How the scene of a group was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Assignment {
    /// The step had one scene for the matching condition.
    Only,
    /// A stored assignment (earlier bucketing, or forced by QA).
    Stored,
    /// Bucketed now; the caller stores it.
    Bucketed { bucket: u64 },
}

/// The scene chosen for a step, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub step: usize,
    pub scene: usize,
    pub condition: String,
    pub group: Option<Group>,
    pub assignment: Assignment,
    /// Steps passed over because none of their rows matched.
    pub skipped: Vec<String>,
}

/// What a user reaches from a position: a scene, or the end of the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Reached {
    Scene(Selection),
    End { skipped: Vec<String> },
}

/// Who is being served, for selection.
pub struct Context<'a> {
    pub user_id: &'a str,
    pub attributes: &'a Attributes,
    pub today: NaiveDate,
}

impl CompiledFlow {
    pub fn compile(version: impl Into<String>, def: FlowDef) -> CompiledFlow {
        let step_index: HashMap<String, usize> = def
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let scene_index: HashMap<String, usize> = def
            .scenes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.clone(), i))
            .collect();
        let mut scenes_by_step = vec![Vec::new(); def.steps.len()];
        for (i, s) in def.scenes.iter().enumerate() {
            if let Some(&p) = step_index.get(&s.step) {
                scenes_by_step[p].push(i);
            }
        }
        let mut choices_by_scene = vec![Vec::new(); def.scenes.len()];
        for (i, c) in def.choices.iter().enumerate() {
            if let Some(&s) = scene_index.get(&c.scene) {
                choices_by_scene[s].push(i);
            }
        }
        let (rows, row_of_scene) = group_rows(&def, &scenes_by_step);
        let mut flow = CompiledFlow {
            version: version.into(),
            def,
            step_index,
            scene_index,
            scenes_by_step,
            choices_by_scene,
            remaining: Vec::new(),
            locales: Vec::new(),
            rows,
            row_of_scene,
        };
        flow.locales = flow.def.locales();
        flow.remaining = flow.shortest_paths_to_end();
        flow
    }

    /// The languages the workbook provides besides its default, sorted.
    pub fn locales(&self) -> &[String] {
        &self.locales
    }

    /// The A/B group a scene belongs to; `None` when it is the only scene of
    /// its step for its condition.
    pub fn group_of(&self, scene: usize) -> Option<&Group> {
        self.rows
            .get(self.row_of_scene[scene])
            .and_then(|r| r.group.as_ref())
    }

    /// The group of an experiment of this flow.
    pub fn group(&self, experiment: &ExperimentId) -> Option<&Group> {
        let step = self.step_position(&experiment.step)?;
        self.scenes_by_step[step]
            .iter()
            .find(|&&i| self.scene(i).condition == experiment.condition)
            .and_then(|&i| self.group_of(i))
    }

    /// Every A/B group, in sheet order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.rows.iter().filter_map(|r| r.group.as_ref())
    }

    pub fn step_key(&self, step: usize) -> &str {
        &self.def.steps[step]
    }

    pub fn step_position(&self, key: &str) -> Option<usize> {
        self.step_index.get(key).copied()
    }

    pub fn scene(&self, index: usize) -> &SceneDef {
        &self.def.scenes[index]
    }

    pub fn scene_position(&self, key: &str) -> Option<usize> {
        self.scene_index.get(key).copied()
    }

    pub fn choices(&self, scene: usize) -> impl Iterator<Item = &ChoiceDef> {
        self.choices_by_scene[scene]
            .iter()
            .map(|&i| &self.def.choices[i])
    }

    /// Scene indexes of a step, in sheet order.
    pub fn scenes_of(&self, step: usize) -> &[usize] {
        &self.scenes_by_step[step]
    }

    /// Fewest scenes still to answer from a step, the step's own included.
    pub fn remaining_from(&self, step: usize) -> u32 {
        self.remaining[step]
    }

    fn resolve(&self, target: &Target) -> Next {
        match target {
            Target::End => Next::End,
            Target::Step(key) => self.step_position(key).map_or(Next::End, Next::Step),
        }
    }

    /// The step after `step` in sheet order.
    fn following(&self, step: usize) -> Next {
        if step + 1 < self.def.steps.len() {
            Next::Step(step + 1)
        } else {
            Next::End
        }
    }

    /// Where an answer to `scene` leads: the first picked choice (in sheet
    /// order) with a `next_step`, else the scene's `next_step`, else the next
    /// step in order.
    pub fn next_after(&self, scene: usize, picked: &[&str]) -> Next {
        let s = self.scene(scene);
        let by_choice = self
            .choices(scene)
            .filter(|c| picked.contains(&c.key.as_str()))
            .find_map(|c| c.next_step.as_ref());
        match by_choice.or(s.next_step.as_ref()) {
            Some(target) => self.resolve(target),
            None => self.following(self.step_position(&s.step).unwrap_or(usize::MAX - 1)),
        }
    }

    /// The rows a user falls in at a step: those with the first matching
    /// condition, in sheet order. `None`: no row matches, the step is skipped.
    fn rows_at(&self, step: usize, ctx: &Context) -> Option<&Rows> {
        self.scenes_by_step[step]
            .iter()
            .find(|&&i| {
                conditions::find(&self.scene(i).condition)
                    .is_some_and(|cond| cond.matches(ctx.attributes, ctx.today))
            })
            .map(|&i| &self.rows[self.row_of_scene[i]])
    }

    /// Choose the scene at `step`, skipping steps where nothing matches, and
    /// say what the choice changes (see [`Decision`]).
    pub fn reach(&self, from: Next, ctx: &Context, stored: &Assignments) -> Decision {
        let mut skipped = Vec::new();
        let mut at = from;
        while let Next::Step(step) = at {
            if let Some(selection) = self.select(step, ctx, stored, &mut skipped) {
                return Decision::of(self, Reached::Scene(selection), stored);
            }
            skipped.push(self.step_key(step).to_owned());
            at = self.following(step);
        }
        Decision::of(self, Reached::End { skipped }, stored)
    }

    fn select(
        &self,
        step: usize,
        ctx: &Context,
        stored: &Assignments,
        skipped: &mut Vec<String>,
    ) -> Option<Selection> {
        let rows = self.rows_at(step, ctx)?;
        let members = &rows.members;
        let condition = self.scene(members[0]).condition.clone();
        let (scene, assignment) = match &rows.group {
            None => (members[0], Assignment::Only),
            Some(group) => {
                let kept = stored
                    .get(&group.experiment_id)
                    .and_then(|a| members.iter().find(|&&i| self.scene(i).key == a.scene))
                    .map(|&i| (i, Assignment::Stored));
                kept.unwrap_or_else(|| {
                    let b = bucket::bucket(ctx.user_id, self.step_key(step), &condition);
                    let weights: Vec<f64> = members.iter().map(|&i| self.scene(i).weight).collect();
                    (
                        members[bucket::pick(b, &weights)],
                        Assignment::Bucketed { bucket: b },
                    )
                })
            }
        };
        Some(Selection {
            step,
            scene,
            condition,
            group: rows.group.clone(),
            assignment,
            skipped: std::mem::take(skipped),
        })
    }

    /// Every edge a scene or choice can take, for the progress estimate.
    fn successors(&self, step: usize) -> Vec<Next> {
        let mut out = Vec::new();
        for &s in &self.scenes_by_step[step] {
            let scene = self.scene(s);
            let choices: Vec<&ChoiceDef> = self.choices(s).collect();
            let fallback = scene
                .next_step
                .as_ref()
                .map_or(self.following(step), |t| self.resolve(t));
            if choices.is_empty() || choices.iter().any(|c| c.next_step.is_none()) {
                out.push(fallback);
            }
            out.extend(
                choices
                    .iter()
                    .filter_map(|c| c.next_step.as_ref())
                    .map(|t| self.resolve(t)),
            );
        }
        if out.is_empty() {
            out.push(self.following(step));
        }
        out
    }

    /// Bellman-Ford style relaxation: the graph is small, loops are allowed.
    fn shortest_paths_to_end(&self) -> Vec<u32> {
        let n = self.def.steps.len();
        let edges: Vec<Vec<Next>> = (0..n).map(|s| self.successors(s)).collect();
        let mut dist = vec![u32::MAX; n];
        let mut changed = true;
        while changed {
            changed = false;
            for s in (0..n).rev() {
                let best = edges[s]
                    .iter()
                    .map(|e| match e {
                        Next::End => 0,
                        Next::Step(t) => dist[*t],
                    })
                    .min()
                    .unwrap_or(0);
                let d = best.saturating_add(1);
                if d < dist[s] {
                    dist[s] = d;
                    changed = true;
                }
            }
        }
        dist.into_iter()
            .map(|d| if d == u32::MAX { 1 } else { d })
            .collect()
    }
}

/// The rows of each step by condition, and the A/B group of those with
/// several scenes: compiled once, so every reader agrees on what a group is.
fn group_rows(def: &FlowDef, scenes_by_step: &[Vec<usize>]) -> (Vec<Rows>, Vec<usize>) {
    let mut rows: Vec<Rows> = Vec::new();
    let mut row_of_scene = vec![usize::MAX; def.scenes.len()];
    for (step, scenes) in scenes_by_step.iter().enumerate() {
        let first = rows.len();
        for &i in scenes {
            let condition = &def.scenes[i].condition;
            let found = rows[first..]
                .iter()
                .position(|r| &def.scenes[r.members[0]].condition == condition);
            let at = match found {
                Some(p) => first + p,
                None => {
                    rows.push(Rows {
                        members: Vec::new(),
                        group: None,
                    });
                    rows.len() - 1
                }
            };
            rows[at].members.push(i);
            row_of_scene[i] = at;
        }
        for r in &mut rows[first..] {
            if r.members.len() > 1 {
                let condition = def.scenes[r.members[0]].condition.clone();
                r.group = Some(Group {
                    experiment_id: ExperimentId::new(def.steps[step].clone(), condition.clone()),
                    condition,
                    variants: r
                        .members
                        .iter()
                        .map(|&i| (def.scenes[i].key.clone(), def.scenes[i].weight))
                        .collect(),
                });
            }
        }
    }
    (rows, row_of_scene)
}
