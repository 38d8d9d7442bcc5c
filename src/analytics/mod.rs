//! Funnels, A/B results and impact scope, computed from the event log.
//! Queries live in `store::analytics`; the figures are assembled here by
//! pure functions, so they can be checked against hand-computed numbers.

pub mod export;
pub mod stats;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::flow::CompiledFlow;
use crate::onboarding::FlowCache;
use crate::store::analytics::{self as queries, StepTime, VariantCount};
use crate::store::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepFunnel {
    pub step: String,
    /// Users who were shown a scene of this step.
    pub reached: i64,
    /// Users who answered it.
    pub answered: i64,
    /// Users whose run is still at this step (dropped, or not back yet).
    pub left: i64,
    /// Median seconds from first seeing the step to answering it.
    pub median_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    pub version: String,
    pub channel: String,
    pub started: i64,
    pub completed: i64,
    pub completion_rate: f64,
    pub steps: Vec<StepFunnel>,
}

/// Assemble a funnel from the query rows; `steps` in flow order.
pub fn build_funnel(
    version: &str,
    channel: &str,
    steps: &[String],
    users: &[(Option<String>, String, i64)],
    (started, completed): (i64, i64),
    waiting: &[(Option<String>, i64)],
    times: &[StepTime],
) -> Funnel {
    let count = |step: &str, kind: &str| {
        users
            .iter()
            .find(|(s, k, _)| s.as_deref() == Some(step) && k == kind)
            .map_or(0, |r| r.2)
    };
    type FirstSeenAndAnswered = (Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>);
    let mut firsts: HashMap<(&str, &str), FirstSeenAndAnswered> = HashMap::new();
    for (user, step, kind, at) in times {
        let Some(step) = step.as_deref() else {
            continue;
        };
        let entry = firsts.entry((user.as_str(), step)).or_default();
        match kind.as_str() {
            "scene_shown" => entry.0 = *at,
            _ => entry.1 = *at,
        }
    }
    let mut durations: HashMap<&str, Vec<f64>> = HashMap::new();
    for ((_, step), (shown, answered)) in &firsts {
        if let (Some(s), Some(a)) = (shown, answered) {
            durations
                .entry(step)
                .or_default()
                .push((*a - *s).num_milliseconds() as f64 / 1000.0);
        }
    }
    Funnel {
        version: version.to_owned(),
        channel: channel.to_owned(),
        started,
        completed,
        completion_rate: if started > 0 {
            completed as f64 / started as f64
        } else {
            0.0
        },
        steps: steps
            .iter()
            .map(|step| StepFunnel {
                step: step.clone(),
                reached: count(step, "scene_shown"),
                answered: count(step, "answered"),
                left: waiting
                    .iter()
                    .find(|(s, _)| s.as_deref() == Some(step))
                    .map_or(0, |r| r.1),
                median_seconds: durations
                    .get_mut(step.as_str())
                    .and_then(|d| stats::median(d)),
            })
            .collect(),
    }
}

pub fn funnel(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    version: &str,
    channel: &str,
) -> Result<Funnel, StoreError> {
    let flow = flows.get(conn, version)?;
    Ok(build_funnel(
        version,
        channel,
        &flow.def.steps,
        &queries::users_by_step(conn, version, channel)?,
        queries::started_and_completed(conn, version, channel)?,
        &queries::waiting_by_step(conn, version, channel)?,
        &queries::step_times(conn, version, channel)?,
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    pub scene: String,
    pub weight: f64,
    pub exposures: i64,
    pub completions: i64,
    pub conversion: f64,
    /// 95 % Wilson interval of the conversion.
    pub interval: (f64, f64),
    /// Conversion minus the first variant's, and the two-proportion p-value.
    pub difference: Option<f64>,
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRatio {
    pub chi_square: f64,
    pub p_value: f64,
    /// p below 0.001: the split does not match the weights; distrust the result.
    pub mismatch: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub version: String,
    pub experiment_id: String,
    pub variants: Vec<VariantResult>,
    pub sample_ratio: Option<SampleRatio>,
}

/// Variants of an experiment in sheet order with their weights, from the flow.
fn variants_of(flow: &CompiledFlow, experiment_id: &str) -> Vec<(String, f64)> {
    let Some((step, condition)) = experiment_id.split_once(':') else {
        return Vec::new();
    };
    let Some(position) = flow.step_position(step) else {
        return Vec::new();
    };
    flow.scenes_of(position)
        .iter()
        .map(|&i| flow.scene(i))
        .filter(|s| s.condition == condition)
        .map(|s| (s.key.clone(), s.weight))
        .collect()
}

pub fn build_experiments(
    exposures: &[VariantCount],
    completions: &[VariantCount],
    mut variants_of: impl FnMut(&str, &str) -> Vec<(String, f64)>,
) -> Vec<Experiment> {
    let mut grouped: BTreeMap<(String, String), BTreeMap<String, (i64, i64)>> = BTreeMap::new();
    for (version, experiment, variant, n) in exposures {
        if let (Some(e), Some(v)) = (experiment, variant) {
            grouped
                .entry((version.clone(), e.clone()))
                .or_default()
                .entry(v.clone())
                .or_default()
                .0 = *n;
        }
    }
    for (version, experiment, variant, n) in completions {
        if let (Some(e), Some(v)) = (experiment, variant) {
            grouped
                .entry((version.clone(), e.clone()))
                .or_default()
                .entry(v.clone())
                .or_default()
                .1 = *n;
        }
    }
    grouped
        .into_iter()
        .map(|((version, experiment_id), observed)| {
            let mut order = variants_of(&version, &experiment_id);
            for key in observed.keys() {
                if !order.iter().any(|(k, _)| k == key) {
                    order.push((key.clone(), 1.0));
                }
            }
            let counts: Vec<(i64, i64)> = order
                .iter()
                .map(|(k, _)| observed.get(k).copied().unwrap_or_default())
                .collect();
            let first = counts.first().copied().unwrap_or_default();
            let variants = order
                .iter()
                .zip(&counts)
                .enumerate()
                .map(|(i, ((scene, weight), &(exposed, completed)))| {
                    let test = (i > 0)
                        .then(|| {
                            stats::two_proportion(
                                (first.1 as u64, first.0 as u64),
                                (completed as u64, exposed as u64),
                            )
                        })
                        .flatten();
                    VariantResult {
                        scene: scene.clone(),
                        weight: *weight,
                        exposures: exposed,
                        completions: completed,
                        conversion: if exposed > 0 {
                            completed as f64 / exposed as f64
                        } else {
                            0.0
                        },
                        interval: stats::wilson(completed as u64, exposed as u64),
                        difference: test.map(|t| t.0),
                        p_value: test.map(|t| t.1),
                    }
                })
                .collect();
            let observed: Vec<u64> = counts.iter().map(|c| c.0 as u64).collect();
            let weights: Vec<f64> = order.iter().map(|(_, w)| *w).collect();
            Experiment {
                version,
                experiment_id,
                variants,
                sample_ratio: stats::chi_square(&observed, &weights).map(|(chi, p)| SampleRatio {
                    chi_square: chi,
                    p_value: p,
                    mismatch: p < stats::SRM_THRESHOLD,
                }),
            }
        })
        .collect()
}

pub fn experiments(
    conn: &mut AnyConnection,
    flows: &FlowCache,
) -> Result<Vec<Experiment>, StoreError> {
    let exposures = queries::exposures(conn)?;
    let completions = queries::exposed_completions(conn)?;
    let mut loaded: HashMap<String, Option<std::sync::Arc<CompiledFlow>>> = HashMap::new();
    Ok(build_experiments(
        &exposures,
        &completions,
        |version, experiment| {
            let flow = loaded
                .entry(version.to_owned())
                .or_insert_with(|| flows.get(conn, version).ok());
            flow.as_ref()
                .map(|f| variants_of(f, experiment))
                .unwrap_or_default()
        },
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelImpact {
    pub channel: String,
    pub users: i64,
    pub first_seen: Option<chrono::NaiveDateTime>,
    pub last_seen: Option<chrono::NaiveDateTime>,
    pub completed: i64,
}

pub fn impact(conn: &mut AnyConnection, version: &str) -> Result<Vec<ChannelImpact>, StoreError> {
    let (served, completed) = queries::impact(conn, version)?;
    Ok(served
        .into_iter()
        .map(|(channel, users, first_seen, last_seen)| ChannelImpact {
            completed: completed
                .iter()
                .find(|(c, _)| *c == channel)
                .map_or(0, |c| c.1),
            channel,
            users,
            first_seen,
            last_seen,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<chrono::NaiveDateTime> {
        chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).map(|d| d.naive_utc())
    }

    #[test]
    fn funnel_figures_match_a_hand_count() {
        let steps = vec!["welcome".to_owned(), "goal".to_owned()];
        let users = vec![
            (Some("welcome".into()), "scene_shown".into(), 10),
            (Some("welcome".into()), "answered".into(), 8),
            (Some("goal".into()), "scene_shown".into(), 8),
            (Some("goal".into()), "answered".into(), 5),
        ];
        let waiting = vec![(Some("welcome".into()), 2), (Some("goal".into()), 3)];
        let times = vec![
            ("a".into(), Some("goal".into()), "scene_shown".into(), at(0)),
            ("a".into(), Some("goal".into()), "answered".into(), at(4)),
            ("b".into(), Some("goal".into()), "scene_shown".into(), at(0)),
            ("b".into(), Some("goal".into()), "answered".into(), at(10)),
            ("c".into(), Some("goal".into()), "scene_shown".into(), at(0)),
        ];
        let f = build_funnel("v", "production", &steps, &users, (10, 5), &waiting, &times);
        assert_eq!(f.completion_rate, 0.5);
        assert_eq!(
            f.steps[0],
            StepFunnel {
                step: "welcome".into(),
                reached: 10,
                answered: 8,
                left: 2,
                median_seconds: None
            }
        );
        assert_eq!(f.steps[1].left, 3);
        assert_eq!(f.steps[1].median_seconds, Some(7.0));
    }

    #[test]
    fn experiment_results_match_a_hand_computation() {
        let v = |variant: &str, n: i64| {
            (
                "v1".to_owned(),
                Some("intro:pass_through".to_owned()),
                Some(variant.to_owned()),
                n,
            )
        };
        let exposures = [v("intro_a", 1000), v("intro_b", 1000)];
        let completions = [v("intro_a", 200), v("intro_b", 250)];
        let result = build_experiments(&exposures, &completions, |_, _| {
            vec![("intro_a".into(), 1.0), ("intro_b".into(), 1.0)]
        });
        let e = &result[0];
        assert_eq!(e.variants[0].conversion, 0.2);
        assert_eq!(e.variants[0].difference, None);
        let b = &e.variants[1];
        assert!((b.difference.unwrap() - 0.05).abs() < 1e-12);
        assert!((b.p_value.unwrap() - 0.007_42).abs() < 5e-5);
        assert!(!e.sample_ratio.as_ref().unwrap().mismatch);

        // A known sample-ratio mismatch: 5,300 / 4,700 against 1:1.
        let srm = build_experiments(&[v("intro_a", 5300), v("intro_b", 4700)], &[], |_, _| {
            vec![("intro_a".into(), 1.0), ("intro_b".into(), 1.0)]
        });
        let ratio = srm[0].sample_ratio.as_ref().unwrap();
        assert!((ratio.chi_square - 36.0).abs() < 1e-9);
        assert!(ratio.mismatch);
    }
}
