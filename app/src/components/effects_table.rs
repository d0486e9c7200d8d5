//! Every head's effects in a table: a column per way they were found (ablation sweep,
//! patching sweep, direct attribution), sorted by any column, largest in size first.

use leptos::prelude::*;

use super::{ExportMenu, Subject};
use crate::interventions::{EffectKind, Found};
use crate::state::{Display, GridColour, Interventions, Selection};

/// How many rows show before "Show all".
const FIRST_ROWS: usize = 20;

/// What the table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortBy {
    Head,
    /// A column's effects, largest in size first.
    Effect(EffectKind),
}

/// The caption of a finding: what it measured and how long it took.
fn describe(found: &Found) -> String {
    let how = match found.kind {
        EffectKind::Ablation => format!(
            "each head switched off alone ({} ablation)",
            match found.effects.method {
                report::EffectMethod::Ablation { ablation } => ablation.name(),
                _ => "",
            }
        ),
        EffectKind::Patching => match &found.effects.method {
            report::EffectMethod::Patching { source } => format!("each head's output patched from {source:?}"),
            _ => String::new(),
        },
        EffectKind::Attribution => "each head's direct contribution at the last position".into(),
    };
    let took = if found.millis < 1000.0 { format!("{:.0} ms", found.millis) } else { format!("{:.1} s", found.millis / 1000.0) };
    format!("{}: {how}, on the {} ({:.4} unchanged); {took}.", found.kind.title(), found.effects.answer.describe(), found.effects.baseline)
}

#[component]
pub fn EffectsTable() -> impl IntoView {
    let selection = expect_context::<Selection>();
    let display = expect_context::<Display>();
    let interventions = expect_context::<Interventions>();
    let sort = RwSignal::new(None::<SortBy>);
    let show_all = RwSignal::new(false);
    let columns = move || {
        let found = interventions.found.get();
        EffectKind::ALL.into_iter().filter_map(|kind| found.iter().find(|f| f.kind == kind).cloned()).collect::<Vec<_>>()
    };
    let rows = move || {
        let columns = columns();
        let first = columns.first()?;
        let (layers, heads) = (first.effects.layers, first.effects.heads);
        let mut order: Vec<(usize, usize)> = (0..layers).flat_map(|l| (0..heads).map(move |h| (l, h))).collect();
        // By default, the column the grid shows (else the first), largest in size first.
        let by = sort.get().unwrap_or(match display.grid_colour.get() {
            GridColour::Effect(kind) if columns.iter().any(|c| c.kind == kind) => SortBy::Effect(kind),
            _ => SortBy::Effect(first.kind),
        });
        if let SortBy::Effect(kind) = by {
            if let Some(column) = columns.iter().find(|c| c.kind == kind) {
                order.sort_by(|a, b| column.effects.of(b.0, b.1).abs().total_cmp(&column.effects.of(a.0, a.1).abs()));
            }
        }
        let shown = if show_all.get() { order.len() } else { FIRST_ROWS.min(order.len()) };
        let top: Vec<f32> = columns.iter().map(|c| c.effects.per_head.iter().fold(1e-9f32, |m, v| m.max(v.abs()))).collect();
        let body = order
            .into_iter()
            .take(shown)
            .map(|(layer, head)| {
                let cells = columns
                    .iter()
                    .zip(&top)
                    .map(|(column, top)| {
                        let value = column.effects.of(layer, head);
                        let (r, g, b) = report::figure::colour::diverging(value / top);
                        view! { <td data-kind=column.kind.name() data-value=format!("{value:.6}") style=format!("background: rgb({r},{g},{b})")>{format!("{value:+.3}")}</td> }
                    })
                    .collect_view();
                view! {
                    <tr data-layer=layer.to_string() data-head=head.to_string() tabindex="0"
                        class:selected=move || selection.layer.get() == layer && selection.head.get() == head
                        on:click=move |_| { selection.layer.set(layer); selection.head.set(head); }
                        on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Enter" || ev.key() == " " {
                            ev.prevent_default();
                            selection.layer.set(layer);
                            selection.head.set(head);
                        }>
                        <th scope="row">{format!("L{layer} H{head}")}</th>
                        {cells}
                    </tr>
                }
            })
            .collect_view();
        Some((body, shown, layers * heads))
    };
    let header = move || {
        let head_button =
            view! { <th scope="col"><button class="link" data-testid="sort-head" on:click=move |_| sort.set(Some(SortBy::Head))>"head"</button></th> };
        let effect_buttons = columns()
            .into_iter()
            .map(|column| {
                let kind = column.kind;
                view! { <th scope="col"><button class="link" data-testid=format!("sort-{}", kind.name()) title="Sort by size, largest first" on:click=move |_| sort.set(Some(SortBy::Effect(kind)))>{kind.title()}</button></th> }
            })
            .collect_view();
        view! { <tr>{head_button}{effect_buttons}</tr> }
    };
    move || {
        let (body, shown, total) = rows()?;
        let captions = columns().iter().map(|f| view! { <li>{describe(f)}</li> }).collect_view();
        Some(view! {
            <div class="effects">
                <ul class="hint effects-captions">{captions}</ul>
                <ExportMenu subject=Subject::Grid test_id="effects-export" />
                <table data-testid="effects-table" class="weights effects-table">
                    <caption>"Each head's effect on the answer (blue: the answer lost; red: it gained). Click a row, or Enter on it, to select the head."</caption>
                    <thead>{header}</thead>
                    <tbody>{body}</tbody>
                </table>
                {(shown < total).then(|| view! { <button class="link" data-testid="effects-show-all" on:click=move |_| show_all.set(true)>{format!("Show all {total} heads")}</button> })}
            </div>
        })
    }
}
