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

#[cfg(test)]
mod tests {
    use super::*;

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
