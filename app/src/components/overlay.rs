//! Several heads of a layer at once: each cell takes the hue of the chosen head that
//! attends most there, as strong as its weight (CircuitsVis's multi-head view), so heads
//! that split a text between them show their shares in one picture.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use report::figure::colour::HEAD_HUES;
use report::figure::heatmap::{self, HeatmapFigure, Layout};
use report::figure::Theme;

use super::ReadingNote;
use crate::state::{AppState, Tab};

impl AppState {
    /// The chosen heads of the selected layer as one figure; `None` without a report or heads.
    pub fn overlay_figure(&self) -> Option<HeatmapFigure> {
        let report = self.run.report.get()?;
        let layer = self.selection.layer.get();
        let heads: Vec<usize> = self.display.overlay_heads.get().into_iter().filter(|&h| h < report.attention().heads()).collect();
        if heads.is_empty() || layer >= report.attention().layers() {
            return None;
        }
        let maps: Vec<_> = heads.iter().map(|&h| (h, self.map_of(&report, layer, h))).collect();
        HeatmapFigure::overlaid(layer, &maps, self.display.value_scale.get(), self.display.colour_scale.get())
    }
}

/// The head picker and the overlaid map.
#[component]
pub fn OverlayView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas_ref = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let (Some(canvas), Some(figure)) = (canvas_ref.get(), state.overlay_figure()) else { return };
        if state.selection.tab.get() != Tab::Overlay {
            return;
        }
        let (width, height) = Layout::of(&figure, 1.0).size();
        canvas.set_width(width);
        canvas.set_height(height);
        if let Some(backend) = CanvasBackend::with_canvas_object(canvas) {
            let area = backend.into_drawing_area();
            let _ = heatmap::draw(&area, &figure, Theme::LIGHT, 1.0).and_then(|_| area.present().map_err(|e| e.to_string()));
        }
    });
    let heads = move || state.run.report.with(|r| r.as_ref().map_or(0, |r| r.attention().heads()));
    let picker = move || {
        (0..heads())
            .map(|h| {
                let (r, g, b) = HEAD_HUES[h % HEAD_HUES.len()];
                view! {
                    <label class="switch head-choice">
                        <input type="checkbox" data-testid="overlay-head" data-head=h.to_string()
                            prop:checked=move || state.display.overlay_heads.get().contains(&h)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                state.display.overlay_heads.update(|hs| {
                                    hs.retain(|&x| x != h);
                                    if on {
                                        hs.push(h);
                                        hs.sort_unstable();
                                    }
                                });
                            } />
                        <span class="swatch" style=format!("background: rgb({r}, {g}, {b})")></span>
                        {format!("H{h}")}
                    </label>
                }
            })
            .collect_view()
    };
    view! {
        <figure class="overlay-view" data-testid="overlay-view" class:hidden=move || state.selection.tab.get() != Tab::Overlay
            data-layer=move || state.selection.layer.get().to_string()>
            <div class="overlay-heads" role="group" aria-label="Heads to overlay">{picker}</div>
            <canvas node_ref=canvas_ref width=heatmap::WIDTH height=heatmap::WIDTH role="img"
                aria-label=move || format!("Heads {:?} of layer {} overlaid", state.display.overlay_heads.get(), state.selection.layer.get())></canvas>
            <figcaption>
                {move || format!("Layer {}: each cell takes the hue of the chosen head that attends most there, as strong as its weight.", state.selection.layer.get())}
                <ReadingNote />
            </figcaption>
        </figure>
    }
}
