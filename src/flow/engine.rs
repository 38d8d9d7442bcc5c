//! A version compiled once into indexes, and the selection rules of the book
//! (docs/src/workbook.md; docs/src/mobile-api.md "A/B assignment, byte for byte"):
//! which scene a user sees at a step, and where an answer leads.
//!
//! Nothing here reads a database: the user's stored A/B assignments come in
//! as data ([`Assignments`]), and what a selection changes goes out as data
//! ([`Decision`]) for the caller to store.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::bucket;
use super::conditions::{self, Attributes};
use super::decision::{AssignmentChange, Assignments, Decision, Event, EventKind};
use super::model::{ChoiceDef, FlowDef, SceneDef, Target};
pub use super::selection::{Assignment, ExperimentId, Group, Next, Reached, Selection};

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
    locales: super::locale::Languages,
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
            locales: Default::default(),
            rows,
            row_of_scene,
        };
        flow.locales = super::locale::Languages::new(flow.def.locales());
        flow.remaining = flow.shortest_paths_to_end();
        flow
    }

    /// The languages the workbook provides besides its default, sorted.
    pub fn locales(&self) -> &[String] {
        self.locales.tags()
    }

    /// The languages with their canonical forms, for negotiation.
    pub fn languages(&self) -> &super::locale::Languages {
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

// A decision is data (decision.rs); the engine, which knows the scenes and
// their groups, makes it.
impl Event {
    /// An event about `scene`, tagged with its experiment when it has one.
    pub fn at_scene(flow: &CompiledFlow, kind: EventKind, scene: usize) -> Event {
        let s = flow.scene(scene);
        let group = flow.group_of(scene);
        Event {
            kind,
            step: Some(s.step.clone()),
            scene: Some(s.key.clone()),
            experiment: group.map(|g| g.experiment_id.clone()),
            variation: group.map(|_| s.key.clone()),
        }
    }
}

impl Decision {
    pub(super) fn of(flow: &CompiledFlow, reached: Reached, stored: &Assignments) -> Decision {
        let selection = match &reached {
            Reached::End { .. } => {
                return Decision {
                    reached,
                    assignment: None,
                    events: vec![Event {
                        kind: EventKind::Completed,
                        step: None,
                        scene: None,
                        experiment: None,
                        variation: None,
                    }],
                };
            }
            Reached::Scene(selection) => selection,
        };
        let mut events = Vec::new();
        let assignment = selection.group.as_ref().and_then(|group| {
            let experiment = group.experiment_id.clone();
            let change = match selection.assignment {
                Assignment::Bucketed { .. } => Some(AssignmentChange::Bucketed {
                    experiment,
                    scene: flow.scene(selection.scene).key.clone(),
                }),
                Assignment::Stored => stored
                    .get(&experiment)
                    .filter(|s| !s.exposed)
                    .map(|_| AssignmentChange::Exposed { experiment }),
                Assignment::Only => None,
            };
            if change.is_some() {
                events.push(Event::at_scene(flow, EventKind::Exposure, selection.scene));
            }
            change
        });
        events.push(Event::at_scene(
            flow,
            EventKind::SceneShown,
            selection.scene,
        ));
        Decision {
            reached,
            assignment,
            events,
        }
    }
}
