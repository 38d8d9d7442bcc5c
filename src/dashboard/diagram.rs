//! The flow as an SVG drawn on the server: steps top to bottom in sheet
//! order, the step that follows in order joined by a short arrow, every
//! `next_step` jump drawn as an arc on the right.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::flow::{FlowDef, Target};

const BOX_W: usize = 220;
const BOX_H: usize = 34;
const GAP: usize = 22;
const LEFT: usize = 16;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where each step can go: `None` is END.
fn edges(flow: &FlowDef) -> Vec<BTreeSet<Option<usize>>> {
    let position = |t: &Target| match t {
        Target::End => None,
        Target::Step(k) => flow.step_position(k),
    };
    let n = flow.steps.len();
    let mut out = vec![BTreeSet::new(); n];
    for (i, step) in flow.steps.iter().enumerate() {
        let following = (i + 1 < n).then_some(i + 1);
        for s in flow.scenes.iter().filter(|s| &s.step == step) {
            let fallback = s.next_step.as_ref().map_or(following, position);
            let choices: Vec<_> = flow.choices_of(&s.key).collect();
            if choices.is_empty() || choices.iter().any(|c| c.next_step.is_none()) {
                out[i].insert(fallback);
            }
            for c in choices {
                if let Some(t) = &c.next_step {
                    out[i].insert(position(t));
                }
            }
        }
    }
    out
}

pub fn svg(flow: &FlowDef) -> String {
    let n = flow.steps.len();
    let y = |i: usize| 10 + i * (BOX_H + GAP);
    let edges = edges(flow);
    let jumps: usize = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.iter()
                .filter(|t| **t != Some(i + 1) && !(t.is_none() && i + 1 == n))
                .count()
        })
        .sum();
    let width = LEFT + BOX_W + 40 + jumps.min(40) * 12;
    let height = y(n) + BOX_H + 10;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="flow diagram" font-family="sans-serif" font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6c757d"/></marker></defs>"##
    );
    let mut lane = 0;
    for (i, targets) in edges.iter().enumerate() {
        for target in targets {
            let to = target.unwrap_or(n);
            if to == i + 1 {
                let x = LEFT + BOX_W / 2;
                let _ = write!(
                    out,
                    r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#6c757d" marker-end="url(#arrow)"/>"##,
                    y(i) + BOX_H,
                    y(to) - 2
                );
                continue;
            }
            lane += 1;
            let x0 = LEFT + BOX_W;
            let bulge = x0 + 20 + (lane % 40) * 12;
            let (y0, y1) = (y(i) + BOX_H / 2, y(to) + BOX_H / 2);
            let color = if to <= i { "#dc3545" } else { "#0d6efd" };
            let _ = write!(
                out,
                r##"<path d="M {x0} {y0} C {bulge} {y0}, {bulge} {y1}, {} {y1}" fill="none" stroke="{color}" marker-end="url(#arrow)"/>"##,
                x0 + 2
            );
        }
    }
    for (i, step) in flow.steps.iter().enumerate() {
        let scenes = flow.scenes.iter().filter(|s| &s.step == step).count();
        let _ = write!(
            out,
            r##"<g><rect x="{LEFT}" y="{}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#f8f9fa" stroke="#495057"/><text x="{}" y="{}">{} <tspan fill="#6c757d">({} scene{})</tspan></text></g>"##,
            y(i),
            LEFT + 10,
            y(i) + 22,
            escape(step),
            scenes,
            if scenes == 1 { "" } else { "s" }
        );
    }
    let _ = write!(
        out,
        r##"<g><rect x="{LEFT}" y="{}" width="{BOX_W}" height="{BOX_H}" rx="17" fill="#d1e7dd" stroke="#198754"/><text x="{}" y="{}">END</text></g></svg>"##,
        y(n),
        LEFT + 10,
        y(n) + 22
    );
    out
}

/// The funnel as horizontal bars: reached (light) and answered (dark) per step.
pub fn funnel_svg(funnel: &crate::analytics::Funnel) -> String {
    const LABEL: usize = 170;
    const BAR: usize = 420;
    const ROW: usize = 26;
    let most = funnel
        .steps
        .iter()
        .map(|s| s.reached)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = LABEL + BAR + 90;
    let height = funnel.steps.len() * ROW + 10;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="funnel chart" font-family="sans-serif" font-size="12">"##
    );
    for (i, s) in funnel.steps.iter().enumerate() {
        let y = 5 + i * ROW;
        let reached = (BAR as f64 * s.reached as f64 / most).round() as usize;
        let answered = (BAR as f64 * s.answered as f64 / most).round() as usize;
        let _ = write!(
            out,
            r##"<text x="0" y="{}">{}</text><rect x="{LABEL}" y="{y}" width="{reached}" height="18" fill="#cfe2ff"/><rect x="{LABEL}" y="{}" width="{answered}" height="10" fill="#0d6efd"/><text x="{}" y="{}">{} / {}</text>"##,
            y + 13,
            escape(&s.step),
            y + 4,
            LABEL + reached.max(answered) + 6,
            y + 13,
            s.answered,
            s.reached
        );
    }
    out.push_str("</svg>");
    out
}

/// A relative lift and its interval as a bar around zero: the interval a
/// band (green when it lies on the good side of zero, red on the bad side,
/// grey across it), the lift a dot, zero a line. `scale` is the largest
/// |lift| the row's axis shows.
pub fn lift_bar(lift: f64, ci: [f64; 2], scale: f64, good_is_up: bool) -> String {
    const W: f64 = 240.0;
    const H: f64 = 22.0;
    let x = |v: f64| (W / 2.0 + (v / scale).clamp(-1.0, 1.0) * (W / 2.0 - 4.0)).round();
    let (low, high) = (ci[0].min(ci[1]), ci[0].max(ci[1]));
    let up = low > 0.0;
    let down = high < 0.0;
    let colour = match (up, down) {
        (true, _) if good_is_up => "#198754",
        (_, true) if !good_is_up => "#198754",
        (true, _) | (_, true) => "#dc3545",
        _ => "#adb5bd",
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="lift-bar" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="lift {:+.1} % (interval {:+.1} % to {:+.1} %)"><line x1="{z}" y1="0" x2="{z}" y2="{H}" stroke="#6c757d"/><rect x="{a}" y="7" width="{w}" height="8" rx="2" fill="{colour}" opacity="0.55"/><circle cx="{c}" cy="11" r="4" fill="{colour}"/></svg>"##,
        lift * 100.0,
        low * 100.0,
        high * 100.0,
        z = x(0.0),
        a = x(low),
        w = (x(high) - x(low)).max(1.0),
        c = x(lift),
    )
}

/// The cumulative lift over time as a small line chart: `(day, lift)` in
/// order; a dashed line at zero.
pub fn lift_line(points: &[(String, f64)]) -> String {
    const W: f64 = 320.0;
    const H: f64 = 90.0;
    const PAD: f64 = 12.0;
    let most = points.iter().map(|p| p.1.abs()).fold(0.01f64, f64::max);
    let x = |i: usize| {
        if points.len() < 2 {
            W / 2.0
        } else {
            PAD + i as f64 * (W - 2.0 * PAD) / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| (H / 2.0 - v / most * (H / 2.0 - PAD)).round();
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{}", x(i), y(p.1)))
        .collect();
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="lift-line" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="cumulative lift over time" font-family="sans-serif" font-size="10"><line x1="0" y1="{z}" x2="{W}" y2="{z}" stroke="#adb5bd" stroke-dasharray="4 3"/><polyline fill="none" stroke="#0d6efd" stroke-width="2" points="{}"/>"##,
        path.join(" "),
        z = y(0.0),
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{}" r="2.5" fill="#0d6efd"><title>{} {:+.1} %</title></circle>"##,
            x(i),
            y(p.1),
            escape(&p.0),
            p.1 * 100.0
        );
    }
    let _ = write!(
        out,
        r##"<text x="2" y="10">{:+.0} %</text><text x="2" y="{}">{:+.0} %</text></svg>"##,
        most * 100.0,
        H - 2.0,
        -most * 100.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lift_bar_is_green_on_the_good_side_and_red_on_the_bad() {
        assert!(lift_bar(0.2, [0.1, 0.3], 0.5, true).contains("#198754"));
        assert!(lift_bar(0.2, [0.1, 0.3], 0.5, false).contains("#dc3545"));
        assert!(lift_bar(0.0, [-0.1, 0.1], 0.5, true).contains("#adb5bd"));
        let line = lift_line(&[("2026-12-06".into(), 0.1), ("2026-12-07".into(), -0.05)]);
        assert!(line.starts_with("<svg") && line.ends_with("</svg>") && line.contains("polyline"));
    }

    #[test]
    fn draws_every_step_and_escapes_text() {
        let flow: FlowDef = serde_json::from_value(serde_json::json!({
            "steps": ["a", "b"],
            "scenes": [
                {"key": "a", "step": "a", "condition": "pass_through", "weight": 1.0, "messages": ["<hi>"],
                 "input": "choice", "save_as": null, "min": null, "max": null, "placeholder": null, "next_step": null, "row": 2},
                {"key": "b", "step": "b", "condition": "pass_through", "weight": 1.0, "messages": ["x"],
                 "input": "none", "save_as": null, "min": null, "max": null, "placeholder": null, "next_step": "a", "row": 3}
            ],
            "choices": [{"scene": "a", "key": "end", "label": "End", "value": "end", "next_step": "END", "row": 2}]
        }))
        .unwrap();
        let svg = svg(&flow);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(">a <tspan") && svg.contains(">b <tspan"));
        assert!(
            svg.contains("#dc3545"),
            "the jump back from b to a is drawn as a loop"
        );
        assert_eq!(escape("<b>&"), "&lt;b&gt;&amp;");
    }
}
