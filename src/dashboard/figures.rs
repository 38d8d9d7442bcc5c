//! Analytics pages: a version's funnel with its impact, and the experiments.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{Nav, nav};
use super::session::Signed;
use super::versions::load;
use super::{DashboardError, diagram, html};
use crate::state::AppState;

type Page = Result<HttpResponse, DashboardError>;

#[derive(Template)]
#[template(path = "funnel.html")]
struct FunnelPage {
    nav: Option<Nav>,
    funnel: crate::analytics::Funnel,
    chart: String,
    impact: Vec<crate::analytics::ChannelImpact>,
    /// Runs played offline and synced, by channel (docs/src/offline.md).
    offline: Vec<(String, i64)>,
    freshness: crate::analytics::Freshness,
}

#[derive(Deserialize)]
pub struct ChannelQuery {
    channel: Option<String>,
}

pub async fn funnel(
    signed: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ChannelQuery>,
) -> Page {
    let loaded = load(&state, &id).await?;
    let channel =
        crate::boundary::upload::channel_param(query.into_inner().channel.as_deref())?.as_str();
    let flows = state.onboarding.flows().clone();
    let version = loaded.version.id.clone();
    let (((funnel, impact), freshness), offline) = state
        .db
        .run(move |c| {
            let figures = crate::analytics::with_freshness(c, |c| {
                Ok((
                    crate::analytics::funnel(c, &flows, &version, channel)?,
                    crate::analytics::impact(c, &version)?,
                ))
            })?;
            Ok((figures, crate::store::offline::synced_runs(c, &version)?))
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        &FunnelPage {
            nav: nav(&signed),
            chart: diagram::funnel_svg(&funnel),
            funnel,
            impact,
            offline,
            freshness,
        },
    ))
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ExperimentsPage {
    nav: Option<Nav>,
    experiments: Vec<crate::analytics::Experiment>,
    freshness: crate::analytics::Freshness,
}

pub async fn experiments(signed: Signed, state: web::Data<AppState>) -> Page {
    let flows = state.onboarding.flows().clone();
    let (experiments, freshness) = state
        .db
        .run(move |c| {
            crate::analytics::with_freshness(c, |c| crate::analytics::experiments(c, &flows, None))
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        &ExperimentsPage {
            nav: nav(&signed),
            experiments,
            freshness,
        },
    ))
}

/// A variant's figures on a kept day: `(variant, users, sum)`.
type DayFigure = (String, i64, f64);

/// One variant's line on the experiment page.
struct VariantLine {
    scene: String,
    users: u64,
    mean: String,
    lift: String,
    chance: String,
    bar: String,
}

/// One metric's block: its variants, the verdict, and how it reads.
struct MetricBlock {
    name: String,
    description: String,
    guardrail: bool,
    lines: Vec<VariantLine>,
    verdict: String,
    /// `success`, `danger` or `secondary`.
    tone: &'static str,
}

#[derive(Template)]
#[template(path = "experiment.html")]
struct ExperimentPage {
    nav: Option<Nav>,
    version: String,
    experiment: String,
    blocks: Vec<MetricBlock>,
    chosen: String,
    names: Vec<String>,
    trend: String,
    points: usize,
    freshness: crate::analytics::Freshness,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    metric: Option<String>,
}

/// The chance that the treatment is better: gbstats' `chance_to_win` is
/// the chance the metric goes *up*, so for a metric that should go down it
/// is turned over, as GrowthBook shows inverse metrics.
fn chance_to_win(c: &crate::analytics::comparison::Comparison, up_is_good: bool) -> f64 {
    if up_is_good {
        c.bayesian.chance_to_win
    } else {
        1.0 - c.bayesian.chance_to_win
    }
}

/// The plain verdict of a treatment on a metric, from the sequential
/// (always-valid) interval, so looking every day is safe.
fn verdict(
    metric: &crate::analytics::outcomes::Metric,
    results: &crate::analytics::results::Results,
) -> (String, &'static str) {
    use crate::words::Direction;
    let up_is_good = metric.direction == Direction::Increase;
    let mut wins = Vec::new();
    let mut losses = Vec::new();
    for v in results.variants.iter().skip(1) {
        let Some(Some(c)) = &v.vs_control else {
            continue;
        };
        let [low, high] = c.sequential.ci;
        let better = if up_is_good { low > 0.0 } else { high < 0.0 };
        let worse = if up_is_good { high < 0.0 } else { low > 0.0 };
        if better {
            wins.push(format!(
                "{} wins on {} ({:+.1} %, chance to win {:.0} %)",
                v.scene,
                metric.name,
                c.frequentist.lift * 100.0,
                chance_to_win(c, up_is_good) * 100.0
            ));
        } else if worse {
            losses.push(format!(
                "{} is worse on {} ({:+.1} %)",
                v.scene,
                metric.name,
                c.frequentist.lift * 100.0
            ));
        }
    }
    if !losses.is_empty() {
        let mut text = losses.join("; ");
        if metric.guardrail {
            text = format!("guardrail breached: {text}");
        }
        return (text, "danger");
    }
    if !wins.is_empty() {
        return (wins.join("; "), "success");
    }
    let more = results.power.users_still_needed;
    let text = match more {
        _ if results.variants.iter().all(|v| v.users == 0) => {
            "no data yet: nobody was exposed".to_owned()
        }
        Some(0) => "no difference found at the planned power".to_owned(),
        Some(n) => format!(
            "keep running: {n} more users per variant for a {:.0} % effect",
            results.power.min_relative_effect * 100.0
        ),
        None => "keep running: too little data to plan".to_owned(),
    };
    (text, "secondary")
}

fn block(
    metric: &crate::analytics::outcomes::Metric,
    results: &crate::analytics::results::Results,
) -> MetricBlock {
    let scale = results
        .variants
        .iter()
        .filter_map(|v| v.vs_control.flatten())
        .flat_map(|c| [c.frequentist.ci[0].abs(), c.frequentist.ci[1].abs()])
        .filter(|v| v.is_finite())
        .fold(0.05f64, f64::max);
    let up = metric.direction == crate::words::Direction::Increase;
    let lines = results
        .variants
        .iter()
        .map(|v| {
            let comparison = v.vs_control.flatten();
            VariantLine {
                scene: v.scene.clone(),
                users: v.users,
                mean: v.mean.map_or("—".into(), |m| format!("{m:.4}")),
                lift: match (&v.vs_control, comparison) {
                    (None, _) => "control".into(),
                    (Some(_), Some(c)) => format!(
                        "{:+.1} % [{:+.1}, {:+.1}]",
                        c.frequentist.lift * 100.0,
                        c.frequentist.ci[0] * 100.0,
                        c.frequentist.ci[1] * 100.0
                    ),
                    (Some(_), None) => "—".into(),
                },
                chance: comparison.map_or(String::new(), |c| {
                    format!("{:.0} %", chance_to_win(&c, up) * 100.0)
                }),
                bar: comparison.map_or(String::new(), |c| {
                    diagram::lift_bar(c.frequentist.lift, c.frequentist.ci, scale, up)
                }),
            }
        })
        .collect();
    let (verdict, tone) = verdict(metric, results);
    MetricBlock {
        name: metric.name.clone(),
        description: metric.description.clone(),
        guardrail: metric.guardrail,
        lines,
        verdict,
        tone,
    }
}

/// `/admin/experiments/{version}/{experiment_id}`: the group judged on
/// every metric, and the chosen metric's cumulative lift over time.
pub async fn experiment(
    signed: Signed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<MetricQuery>,
) -> Page {
    use crate::analytics::outcomes::{COMPLETED, Metric};
    use crate::analytics::results;
    let (version, experiment) = path.into_inner();
    let chosen = query
        .into_inner()
        .metric
        .unwrap_or_else(|| COMPLETED.to_owned());
    load(&state, &version).await?;
    let flows = state.onboarding.flows().clone();
    let (v, e, pick) = (version.clone(), experiment.clone(), chosen.clone());
    let ((blocks, names, (days, now)), freshness) = state
        .db
        .run(move |c| {
            crate::analytics::with_freshness(c, |c| {
                let mut metrics = vec![Metric::completed()];
                metrics.extend(
                    crate::store::outcomes::metrics_list(c)?
                        .iter()
                        .filter_map(Metric::from_row),
                );
                let mut blocks = Vec::new();
                let mut now = None;
                for m in &metrics {
                    if let results::Found::Results(r) =
                        results::load(c, &flows, &v, &e, &m.name, 0.05)?
                    {
                        if m.name == pick {
                            now = r
                                .variants
                                .get(1)
                                .and_then(|t| t.vs_control.flatten())
                                .map(|c| c.frequentist.lift);
                        }
                        blocks.push(block(m, &r));
                    }
                }
                let names = metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
                let days = crate::store::outcomes::days(c, &pick, &v, &e)?;
                Ok((blocks, names, (days, now)))
            })
        })
        .await?;
    if blocks.is_empty() {
        return Err(crate::error::ApiError::NotFound(format!(
            "version {version} has no experiment '{experiment}'"
        ))
        .into());
    }
    // The cumulative lift of the first treatment on each kept day.
    let mut by_day: Vec<(String, Vec<DayFigure>)> = Vec::new();
    for (day, variant, users, sum, _) in days {
        match by_day.last_mut() {
            Some((d, list)) if *d == day => list.push((variant, users, sum)),
            _ => by_day.push((day, vec![(variant, users, sum)])),
        }
    }
    let order: Vec<String> = blocks[0].lines.iter().map(|l| l.scene.clone()).collect();
    let lift_of = |list: &[(String, i64, f64)]| -> Option<f64> {
        let mean = |scene: &String| {
            list.iter()
                .find(|(v, _, _)| v == scene)
                .filter(|(_, n, _)| *n > 0)
                .map(|(_, n, s)| s / *n as f64)
        };
        let (c, t) = (mean(order.first()?)?, mean(order.get(1)?)?);
        (c != 0.0).then(|| (t - c) / c)
    };
    let mut points: Vec<(String, f64)> = by_day
        .iter()
        .filter_map(|(day, list)| lift_of(list).map(|l| (day.clone(), l)))
        .collect();
    // And the figures as they stand.
    points.extend(now.map(|l| ("now".to_owned(), l)));
    Ok(html(
        StatusCode::OK,
        &ExperimentPage {
            nav: nav(&signed),
            version,
            experiment,
            trend: diagram::lift_line(&points),
            points: points.len(),
            blocks,
            chosen,
            names,
            freshness,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::comparison::{Bayesian, Comparison, Frequentist};

    #[test]
    fn the_chance_to_win_of_a_metric_that_should_go_down_is_turned_over() {
        let f = Frequentist {
            lift: -0.7,
            ci: [-0.9, -0.5],
            p_value: 0.001,
        };
        let c = Comparison {
            frequentist: f,
            sequential: f,
            bayesian: Bayesian {
                lift: -0.7,
                ci: [-0.9, -0.5],
                chance_to_win: 0.001,
                risk: [0.0, 0.5],
            },
        };
        assert!((chance_to_win(&c, false) - 0.999).abs() < 1e-12);
        assert_eq!(chance_to_win(&c, true), 0.001);
    }
}
