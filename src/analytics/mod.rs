//! Funnels, A/B results and impact scope. The endpoints read the aggregates
//! the background aggregator keeps (`aggregator`, docs/src/analytics.md "Analytics at
//! scale"); `oracle` computes the same figures from the whole event log, to
//! check them. The figures are assembled here by pure functions, so they can
//! be checked against hand-computed numbers.

pub mod aggregator;
pub mod comparison;
pub mod export;
pub mod generate;
pub mod guardrails;
pub mod ingest;
/// The full recomputation the aggregates are checked against: dev tools
/// only (Cargo feature `dev-tools`).
#[cfg(any(test, feature = "dev-tools"))]
pub mod oracle;
pub mod outcomes;
pub mod rebuild;
pub mod results;
pub mod sink;
pub mod sketch;
pub mod stats;

use crate::words::AggregateKind;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::flow::CompiledFlow;
use crate::store::FlowCache;
use crate::store::aggregates::{self as agg, AGGREGATES};
use crate::store::analytics::VariantCount;
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
    /// Users who went back to this step to change their answer (docs/src/mobile-api.md
    /// "Going back"): a friction signal.
    pub came_back: i64,
    /// Users whose run a rescue moved off this version at this step
    /// (docs/src/rollouts.md); they go on in the other
    /// version's funnel.
    pub rescued: i64,
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

/// The event of going back: counted per step it went back *to*.
pub const WENT_BACK: &str = "went_back";

/// The events counted per step, in distinct users: shown, answered, went
/// back to ([`AggregateKind`]'s spellings, in a `const`; a test holds them equal).
pub const STEP_KINDS: [&str; 4] = ["scene_shown", "answered", WENT_BACK, RESCUED];

/// The aggregate kind of users rescued off a version at a step.
pub const RESCUED: &str = "rescued";

/// Time to answer per step, as `(step, bucket, users)` of [`sketch`].
pub type StepHistogram = [(String, i32, i64)];

/// Assemble a funnel from the counts; `steps` in flow order.
pub fn build_funnel(
    version: &str,
    channel: &str,
    steps: &[String],
    users: &[(Option<String>, String, i64)],
    (started, completed): (i64, i64),
    waiting: &[(Option<String>, i64)],
    times: &StepHistogram,
) -> Funnel {
    let count = |step: &str, kind: &str| {
        users
            .iter()
            .find(|(s, k, _)| s.as_deref() == Some(step) && k == kind)
            .map_or(0, |r| r.2)
    };
    let median = |step: &str| {
        let histogram: Vec<(i32, i64)> = times
            .iter()
            .filter(|(s, _, _)| s == step)
            .map(|(_, b, n)| (*b, *n))
            .collect();
        sketch::median(&histogram)
    };
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
                reached: count(step, AggregateKind::SceneShown.as_str()),
                answered: count(step, AggregateKind::Answered.as_str()),
                left: waiting
                    .iter()
                    .find(|(s, _)| s.as_deref() == Some(step))
                    .map_or(0, |r| r.1),
                median_seconds: median(step),
                came_back: count(step, WENT_BACK),
                rescued: count(step, RESCUED),
            })
            .collect(),
    }
}

/// How fresh the aggregates are: when the aggregator last looked at the
/// log, and how many events it has not folded yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    pub as_of: Option<chrono::NaiveDateTime>,
    pub pending_events: i64,
}

pub fn freshness(conn: &mut AnyConnection) -> Result<Freshness, StoreError> {
    let cursor = agg::cursor(conn, AGGREGATES)?;
    let last = agg::last_event_id(conn)?;
    Ok(Freshness {
        as_of: cursor.map(|c| c.2),
        pending_events: (last - cursor.map_or(0, |c| c.0)).max(0),
    })
}

/// Figures read from the aggregates, with their freshness read *first*: the
/// aggregator may commit a batch while the figures are being read, and a
/// freshness read after them would count that batch as folded although the
/// figures missed it. Read before, it is a bound the figures meet.
pub fn with_freshness<T>(
    conn: &mut AnyConnection,
    figures: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<(T, Freshness), StoreError> {
    let fresh = freshness(conn)?;
    Ok((figures(conn)?, fresh))
}

/// The funnel of a version on a channel, from the aggregates.
pub fn funnel(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    version: &str,
    channel: &str,
) -> Result<Funnel, StoreError> {
    let flow = flows.get(conn, version)?;
    funnel_of(conn, &flow.def.steps, version, channel)
}

/// [`funnel`] over the given steps.
pub fn funnel_of(
    conn: &mut AnyConnection,
    steps: &[String],
    version: &str,
    channel: &str,
) -> Result<Funnel, StoreError> {
    let counts = agg::counts(conn, Some(version))?;
    let total = |kind: &str| {
        counts
            .iter()
            .find(|r| r.channel == channel && r.kind == kind)
            .map_or(0, |r| r.users)
    };
    let users: Vec<(Option<String>, String, i64)> = counts
        .iter()
        .filter(|r| r.channel == channel && STEP_KINDS.contains(&r.kind.as_str()))
        .map(|r| (Some(r.step_key.clone()), r.kind.clone(), r.users))
        .collect();
    Ok(build_funnel(
        version,
        channel,
        steps,
        &users,
        (
            total(AggregateKind::Started.as_str()),
            total(AggregateKind::Completed.as_str()),
        ),
        &agg::left(conn, version, channel)?,
        &agg::durations(conn, version, channel)?,
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantResult {
    pub scene: String,
    pub weight: f64,
    pub exposures: i64,
    pub completions: i64,
    pub conversion: f64,
    /// 95 % Wilson interval of the conversion; `null` for a variant nobody
    /// was shown (no data is not an interval of [0, 0]).
    pub interval: Option<(f64, f64)>,
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
pub fn variants_of(flow: &CompiledFlow, experiment_id: &str) -> Vec<(String, f64)> {
    crate::flow::ExperimentId::parse(experiment_id)
        .and_then(|id| flow.group(&id))
        .map(|g| g.variants.clone())
        .unwrap_or_default()
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
                        interval: (exposed > 0)
                            .then(|| stats::wilson(completed as u64, exposed as u64)),
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

/// A/B results (of one version, or all), from the aggregates.
pub fn experiments(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    version: Option<&str>,
) -> Result<Vec<Experiment>, StoreError> {
    let rows = agg::experiment_counts(conn, version)?;
    let of_kind = |kind: &str| -> Vec<VariantCount> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .map(|r| {
                (
                    r.version_id.clone(),
                    Some(r.step_key.clone()),
                    Some(r.variant.clone()),
                    r.users,
                )
            })
            .collect()
    };
    assemble_experiments(
        conn,
        flows,
        &of_kind(AggregateKind::Exposure.as_str()),
        &of_kind(AggregateKind::Conversion.as_str()),
    )
}

/// Experiments from exposure and completion counts, with the variants and
/// weights of each version's flow.
pub fn assemble_experiments(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    exposures: &[VariantCount],
    completions: &[VariantCount],
) -> Result<Vec<Experiment>, StoreError> {
    let mut loaded: HashMap<String, Option<std::sync::Arc<CompiledFlow>>> = HashMap::new();
    Ok(build_experiments(
        exposures,
        completions,
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
    /// Users whose run a rescue moved off this version (docs/src/rollouts.md).
    pub rescued: i64,
}

/// Per channel: users served a version, first and last time, completions; from the aggregates.
pub fn impact(conn: &mut AnyConnection, version: &str) -> Result<Vec<ChannelImpact>, StoreError> {
    let mut counts = agg::counts(conn, Some(version))?;
    counts.sort_by(|a, b| a.channel.cmp(&b.channel));
    Ok(counts
        .iter()
        .filter(|r| r.kind == "started")
        .map(|r| ChannelImpact {
            channel: r.channel.clone(),
            users: r.users,
            first_seen: Some(r.first_at),
            last_seen: Some(r.last_at),
            completed: counts
                .iter()
                .find(|c| c.kind == AggregateKind::Completed.as_str() && c.channel == r.channel)
                .map_or(0, |c| c.users),
            rescued: counts
                .iter()
                .filter(|c| c.kind == RESCUED && c.channel == r.channel)
                .map(|c| c.users)
                .sum(),
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
    fn the_step_kinds_are_the_words_spelling() {
        use crate::words::AggregateKind::{Answered, Rescued, SceneShown, WentBack};
        assert_eq!(
            STEP_KINDS,
            [
                SceneShown.as_str(),
                Answered.as_str(),
                WentBack.as_str(),
                Rescued.as_str()
            ]
        );
    }

    #[test]
    fn funnel_figures_match_a_hand_count() {
        let steps = vec!["welcome".to_owned(), "goal".to_owned()];
        let users = vec![
            (Some("welcome".into()), "scene_shown".into(), 10),
            (Some("welcome".into()), "answered".into(), 8),
            (Some("goal".into()), "scene_shown".into(), 8),
            (Some("goal".into()), "answered".into(), 5),
            (Some("welcome".into()), "went_back".into(), 3),
            (Some("goal".into()), "rescued".into(), 1),
        ];
        let waiting = vec![(Some("welcome".into()), 2), (Some("goal".into()), 3)];
        let times = oracle::histogram(&[
            (
                "a".into(),
                Some("goal".into()),
                crate::flow::EventKind::SceneShown,
                at(0),
            ),
            (
                "a".into(),
                Some("goal".into()),
                crate::flow::EventKind::Answered,
                at(4),
            ),
            (
                "b".into(),
                Some("goal".into()),
                crate::flow::EventKind::SceneShown,
                at(0),
            ),
            (
                "b".into(),
                Some("goal".into()),
                crate::flow::EventKind::Answered,
                at(10),
            ),
            (
                "c".into(),
                Some("goal".into()),
                crate::flow::EventKind::SceneShown,
                at(0),
            ),
        ]);
        let f = build_funnel("v", "production", &steps, &users, (10, 5), &waiting, &times);
        assert_eq!(f.completion_rate, 0.5);
        assert_eq!(
            f.steps[0],
            StepFunnel {
                step: "welcome".into(),
                reached: 10,
                answered: 8,
                left: 2,
                median_seconds: None,
                came_back: 3,
                rescued: 0,
            }
        );
        assert_eq!(f.steps[1].rescued, 1);
        assert_eq!(f.steps[1].left, 3);
        assert_eq!(f.steps[1].came_back, 0);
        // The sketch reads the median of 4 s and 10 s within 1 %.
        let median = f.steps[1].median_seconds.unwrap();
        assert!((median - 7.0).abs() < 0.07, "{median}");
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

        // A variant nobody was shown has no interval, not [0, 0].
        let unseen = build_experiments(&[v("intro_a", 10)], &[], |_, _| {
            vec![("intro_a".into(), 1.0), ("intro_b".into(), 1.0)]
        });
        let b = &unseen[0].variants[1];
        assert_eq!((b.exposures, b.interval), (0, None));
        assert!(unseen[0].variants[0].interval.is_some());
    }
}
