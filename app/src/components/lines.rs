//! The selected head as lines: queries in the left column, keys in the right, a
//! line from each query to each key whose opacity is the weight. Hovering a token
//! shows only its lines.

use leptos::prelude::*;

use super::token_label;
use crate::{AppState, Tab};

/// Lines lighter than this are not drawn: invisible anyway, and 128 tokens make 16,384 lines.
const FAINTEST: f32 = 0.005;
const WIDTH: f64 = 460.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 330.0;

/// Which token the lines are for: a query (left) or a key (right) under the pointer,
/// or the token strip's token (its lines on both sides).
#[derive(Clone, Copy, PartialEq)]
enum Focus {
    Query(usize),
    Key(usize),
    Token(usize),
}

#[component]
pub fn LinesView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let focus = RwSignal::new(None::<Focus>);
    move || {
        if state.tab.get() != Tab::Lines {
            return None;
        }
        let (report, layer, head) = state.selected_head()?;
        let n = report.tokens().len();
        let row = (560.0 / n as f64).clamp(6.0, 36.0);
        let height = row * n as f64 + 10.0;
        let y = move |i: usize| 5.0 + row * (i as f64 + 0.5);
        let font = format!("font-size: {:.0}px", (row * 0.75).clamp(6.0, 15.0));
        let weights = report.attention().head(layer, head).to_vec();

        let lines = move || {
            // The strip's token shows its lines, both ways, when no label here is hovered.
            let shown = focus.get().or_else(|| state.focused_token().map(Focus::Token));
            let mut lines = Vec::new();
            for q in 0..n {
                for k in 0..n {
                    let w = weights[q * n + k];
                    let wanted = match shown {
                        Some(Focus::Query(i)) => i == q,
                        Some(Focus::Key(i)) => i == k,
                        Some(Focus::Token(i)) => i == q || i == k,
                        None => true,
                    };
                    if wanted && w >= FAINTEST {
                        lines.push(view! {
                            <line
                                x1=LEFT + 6.0 y1=y(q) x2=RIGHT - 6.0 y2=y(k)
                                stroke-opacity=format!("{w:.4}")
                                data-query=q.to_string() data-key=k.to_string()
                            ></line>
                        });
                    }
                }
            }
            lines.collect_view()
        };
        let labels = report
            .tokens()
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let label = token_label(&token.text);
                view! {
                    <text x=LEFT y=y(i) text-anchor="end" dominant-baseline="middle" class="query-token"
                          class:focused=move || focus.get() == Some(Focus::Query(i))
                          data-index=i.to_string()
                          on:mouseenter=move |_| focus.set(Some(Focus::Query(i)))
                          on:mouseleave=move |_| focus.set(None)>{label.clone()}</text>
                    <text x=RIGHT y=y(i) text-anchor="start" dominant-baseline="middle" class="key-token"
                          class:focused=move || focus.get() == Some(Focus::Key(i))
                          data-index=i.to_string()
                          on:mouseenter=move |_| focus.set(Some(Focus::Key(i)))
                          on:mouseleave=move |_| focus.set(None)>{label}</text>
                }
            })
            .collect_view();
        Some(view! {
            <figure class="lines-view" data-testid="lines-view">
                <svg width=WIDTH height=height viewBox=format!("0 0 {WIDTH} {height}") style=font role="img"
                     aria-label=format!("Layer {layer}, head {head} as lines from queries (left) to keys (right)")>
                    <g class="lines">{lines}</g>
                    <g class="labels">{labels}</g>
                </svg>
                <figcaption>"Left: queries. Right: keys. A line's strength is the weight; hover a token for its lines only."</figcaption>
            </figure>
        })
    }
}
