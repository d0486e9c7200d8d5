//! Attention as lines: one column of tokens on the left, one on the right, a line
//! between two tokens whose opacity is the weight. The selected head of the input's
//! self-attention shows queries left and keys right; a translation's cross-attention
//! shows the source left and the translation right. Hovering a token shows only its
//! lines; so does a token focused elsewhere (the token strip, the translation).

use leptos::prelude::*;

use super::token_label;
use crate::{AppState, Tab};

/// Lines lighter than this are not drawn: invisible anyway, and 128 tokens make 16,384 lines.
const FAINTEST: f32 = 0.005;
const WIDTH: f64 = 460.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 330.0;

/// Which side of the lines a token stands on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Left,
    Right,
}

/// Two columns of tokens and the weighted lines between them.
#[component]
pub fn LinePairs(
    /// The left column's tokens.
    left: Vec<String>,
    /// The right column's tokens.
    right: Vec<String>,
    /// The weight of each line, [left][right] row-major.
    weights: Vec<f32>,
    /// Tokens focused from outside (left index, right index): their lines only.
    #[prop(into)]
    outside: Signal<(Option<usize>, Option<usize>)>,
    /// The test id and the picture's description.
    test_id: &'static str,
    label: String,
    caption: &'static str,
    /// The class of each column's labels (for styling and tests).
    #[prop(default = ("query-token", "key-token"))]
    classes: (&'static str, &'static str),
) -> impl IntoView {
    let hovered = RwSignal::new(None::<(Side, usize)>);
    let (n_left, n_right) = (left.len(), right.len());
    let rows = n_left.max(n_right).max(1);
    let row = (560.0 / rows as f64).clamp(6.0, 36.0);
    let height = row * rows as f64 + 10.0;
    let y = move |i: usize| 5.0 + row * (i as f64 + 0.5);
    let font = format!("font-size: {:.0}px", (row * 0.75).clamp(6.0, 15.0));
    let lines = move || {
        let (outside_left, outside_right) = outside.get();
        let mut lines = Vec::new();
        for l in 0..n_left {
            for r in 0..n_right {
                let w = weights[l * n_right + r];
                let wanted = match hovered.get() {
                    Some((Side::Left, i)) => i == l,
                    Some((Side::Right, i)) => i == r,
                    None if outside_left.is_some() || outside_right.is_some() => outside_left == Some(l) || outside_right == Some(r),
                    None => true,
                };
                if wanted && w >= FAINTEST {
                    lines.push(view! {
                        <line x1=LEFT + 6.0 y1=y(l) x2=RIGHT - 6.0 y2=y(r) stroke-opacity=format!("{w:.4}")
                            data-left=l.to_string() data-right=r.to_string()></line>
                    });
                }
            }
        }
        lines.collect_view()
    };
    let column = move |tokens: Vec<String>, side: Side| {
        let (x, anchor, class) = match side {
            Side::Left => (LEFT, "end", classes.0),
            Side::Right => (RIGHT, "start", classes.1),
        };
        tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                view! {
                    <text x=x y=y(i) text-anchor=anchor dominant-baseline="middle" class=class
                          class:focused=move || hovered.get() == Some((side, i))
                          data-index=i.to_string()
                          on:mouseenter=move |_| hovered.set(Some((side, i)))
                          on:mouseleave=move |_| hovered.set(None)>{token_label(&token)}</text>
                }
            })
            .collect_view()
    };
    let labels = view! { {column(left, Side::Left)} {column(right, Side::Right)} };
    view! {
        <figure class="lines-view" data-testid=test_id>
            <svg width=WIDTH height=height viewBox=format!("0 0 {WIDTH} {height}") style=font role="img" aria-label=label>
                <g class="lines">{lines}</g>
                <g class="labels">{labels}</g>
            </svg>
            <figcaption>{caption}</figcaption>
        </figure>
    }
}

/// The selected head of the input's self-attention: queries left, keys right.
#[component]
pub fn LinesView() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The strip's token shows its lines, both ways.
    let outside = Signal::derive(move || {
        let token = state.focused_token();
        (token, token)
    });
    move || {
        if state.tab.get() != Tab::Lines {
            return None;
        }
        let (report, layer, head) = state.selected_head()?;
        let tokens: Vec<String> = report.tokens().iter().map(|t| t.text.clone()).collect();
        let weights = report.attention().head(layer, head).to_vec();
        Some(view! {
            <LinePairs left=tokens.clone() right=tokens weights=weights outside=outside test_id="lines-view"
                label=format!("Layer {layer}, head {head} as lines from queries (left) to keys (right)")
                caption="Left: queries. Right: keys. A line's strength is the weight; hover a token for its lines only." />
        })
    }
}
