//! Attention as lines: one column of tokens on the left, one on the right, a line
//! between two tokens whose opacity is the weight. The selected head of the input's
//! self-attention shows queries left and keys right; a translation's cross-attention
//! shows the source left and the translation right. Hovering a token shows only its
//! lines; so does a token focused elsewhere (the token strip, the translation).

use leptos::prelude::*;

use super::{token_label, ReadingNote};
use crate::state::{Run, Selection, Tab};

// The exported figure's measures: the page's lines and the figure's stand alike.
use report::figure::lines::{FAINTEST, LEFT, RIGHT};
const WIDTH: f64 = report::figure::lines::WIDTH as f64;

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

/// How many lines each query keeps, so a long text's map stays legible.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LineLimit {
    All,
    /// The `k` strongest keys of each query.
    Top(usize),
    /// Keys with at least this weight.
    AtLeast(f32),
}

impl LineLimit {
    const CHOICES: [(LineLimit, &'static str, &'static str); 6] = [
        (LineLimit::All, "all", "all lines"),
        (LineLimit::Top(1), "top1", "strongest key"),
        (LineLimit::Top(3), "top3", "3 strongest keys"),
        (LineLimit::Top(5), "top5", "5 strongest keys"),
        (LineLimit::AtLeast(0.1), "min0.1", "weights ≥ 0.1"),
        (LineLimit::AtLeast(0.3), "min0.3", "weights ≥ 0.3"),
    ];

    /// The weights with every line this limit drops set to 0, [rows, columns].
    pub fn apply(self, weights: &[f32], columns: usize) -> Vec<f32> {
        match self {
            LineLimit::All => weights.to_vec(),
            LineLimit::AtLeast(t) => weights.iter().map(|&w| if w >= t { w } else { 0.0 }).collect(),
            LineLimit::Top(k) => weights.chunks(columns.max(1)).flat_map(|row| strongest(row, k)).collect(),
        }
    }
}

/// `row` with all but its `k` largest values set to 0 (ties to the earlier key).
fn strongest(row: &[f32], k: usize) -> Vec<f32> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    let mut kept = vec![0.0; row.len()];
    for &i in order.iter().take(k) {
        kept[i] = row[i];
    }
    kept
}

/// The selected head of the input's self-attention: queries left, keys right (tokens or
/// words, the first token hidden or not, as the reading says).
#[component]
pub fn LinesView() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let run = expect_context::<Run>();
    let limit = RwSignal::new(LineLimit::All);
    let picker = view! {
        <label class="picker">
            <span class="label">"Lines"</span>
            <select data-testid="lines-limit" on:change=move |ev| {
                let name = event_target_value(&ev);
                limit.set(LineLimit::CHOICES.into_iter().find(|c| c.1 == name).map_or(LineLimit::All, |c| c.0));
            }>
                {LineLimit::CHOICES.map(|(l, name, text)| view! { <option value=name selected=move || limit.get() == l>{text}</option> })}
            </select>
        </label>
    };
    let lines = move || {
        if selection.tab.get() != Tab::Lines {
            return None;
        }
        let (_, layer, head, map) = run.shown_map()?;
        let read = map.read.clone();
        // The strip's token shows its lines, both ways (as the row and the column that hold it).
        let outside = Signal::derive(move || {
            let token = run.focused_token(&selection);
            (token.and_then(|t| read.rows.index_of(t)), token.and_then(|t| read.columns.index_of(t)))
        });
        // Lines are drawn by opacity: on the scale's top (a norm map's largest cell is 1).
        let weights: Vec<f32> = map.values().iter().map(|&v| v / map.top).collect();
        let weights = limit.get().apply(&weights, map.columns());
        Some(view! {
            <LinePairs left=map.read.rows.labels.clone() right=map.read.columns.labels.clone() weights=weights outside=outside test_id="lines-view"
                label=format!("Layer {layer}, head {head} as lines from queries (left) to keys (right)")
                caption="Left: queries. Right: keys. A line's strength is the weight; hover a token for its lines only." />
        })
    };
    view! {
        <div class="lines-panel" class:hidden=move || selection.tab.get() != Tab::Lines>
            <div class="map-pickers">{picker}</div>
            {lines}
            <p class="lines-note"><ReadingNote /></p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::LineLimit;

    #[test]
    fn limits_keep_the_strongest_lines_of_each_query() {
        let weights = [0.5, 0.2, 0.3, 0.1, 0.1, 0.8];
        assert_eq!(LineLimit::Top(1).apply(&weights, 3), [0.5, 0.0, 0.0, 0.0, 0.0, 0.8]);
        // A tie goes to the earlier key.
        assert_eq!(LineLimit::Top(2).apply(&weights, 3), [0.5, 0.0, 0.3, 0.1, 0.0, 0.8]);
        assert_eq!(LineLimit::AtLeast(0.3).apply(&weights, 3), [0.5, 0.0, 0.3, 0.0, 0.0, 0.8]);
        assert_eq!(LineLimit::All.apply(&weights, 3), weights);
    }
}
