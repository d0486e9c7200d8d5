//! The input of a few-shot learner: an episode of drawings a person makes. A pad for each
//! labelled example (A, B, …) and one for the query: draw with the mouse, a pen or a finger on
//! its 28 × 28 grid, or open a picture file (made into a drawing as Omniglot's were, and
//! refused, with the reason, when it is not a character); or take the held-out episode the
//! Train panel shows. The episode runs once every pad holds a drawing.

use leptos::prelude::*;
use report::image::character::{self, SIDE};
use report::Episode;
use wasm_bindgen::JsCast;

use super::episode::Drawing;
use crate::state::AppState;

/// A pad's size on the page, in CSS pixels (4 a drawing's pixel).
const PAD: f64 = 112.0;

/// The slots of the loaded learner's episode: its steps (N·K examples and the query), and
/// how many examples of each class.
fn slots(state: AppState) -> (usize, usize) {
    state.run.loaded.with(|l| l.as_ref().map_or((6, 1), |(info, _)| (info.max_positions, ((info.max_positions.max(2) - 1) / info.vocab_size.max(1)).max(1))))
}

#[component]
pub fn EpisodePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let episode = state.vision.episode;
    let notice = state.vision.notice;
    // The Train panel's held-out episode, when its SNAIL has read one.
    let held_out =
        move || state.training.snail.progress.with(|p| p.first().and_then(|m| m.example.as_ref()).and_then(|r| r.episode.as_ref()).map(|e| e.drawings.clone()));
    let take_held_out = move |_| {
        if let Some(drawings) = held_out() {
            notice.set(None);
            episode.set(drawings);
        }
    };
    let pads = move || {
        let (steps, shots) = slots(state);
        (0..steps)
            .map(|slot| {
                let name = if slot + 1 == steps { "query".to_string() } else { Episode::class_name(slot / shots) };
                view! { <Pad index=slot steps name /> }
            })
            .collect_view()
    };
    view! {
        <section class="episode-input" data-testid="episode-input" aria-label="Episode">
            <p class="hint">
                "Draw a character on each pad — one of each class, A to E — and a new drawing of one of them as the query; or open a picture \
                 file on a pad. The SNAIL reads them in order, the query last, once every pad holds a drawing."
            </p>
            <div class="episode-buttons">
                <button type="button" data-testid="episode-held-out" disabled=move || held_out().is_none() on:click=take_held_out
                    title="the episode the Train panel's SNAIL shows">"Take the Train panel's held-out episode"</button>
                <button type="button" data-testid="episode-clear" on:click=move |_| { notice.set(None); episode.set(Vec::new()); }>"Clear all"</button>
            </div>
            <ol class="episode-pads">{pads}</ol>
            {move || notice.get().map(|notice| view! { <p class="notice" data-testid="episode-notice" role="status">{notice}</p> })}
        </section>
    }
}

/// One pad: its drawing, drawn on by pointer, cleared, or read from a picture file.
#[component]
fn Pad(index: usize, steps: usize, name: String) -> impl IntoView {
    let slot = index;
    let state = expect_context::<AppState>();
    let episode = state.vision.episode;
    let kept = move || episode.with(|e| e.get(slot).cloned().filter(|d| d.len() == SIDE * SIDE).unwrap_or_else(|| vec![0; SIDE * SIDE]));
    // The drawing while a stroke goes on: the pad shows it, and the episode takes it when the
    // stroke ends (the SNAIL reads the episode once a stroke, not once a pointer move).
    let drawing_now = RwSignal::new(None::<Vec<u8>>);
    let pixels = move || drawing_now.get().unwrap_or_else(kept);
    let last = StoredValue::new(None::<(i32, i32)>);
    let set = move |drawing: Vec<u8>| {
        episode.update(|e| {
            e.resize(steps.max(e.len()), Vec::new());
            e[slot] = drawing;
        })
    };
    // The cells of a stroke from the last point to the pointer, measured from the pad's
    // corner (the pad is the drawing's size: no border, no padding).
    let stroke = move |event: &web_sys::PointerEvent| {
        let Some(pad) = event.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let corner = pad.get_bounding_client_rect();
        let cell = |v: f64| ((v * SIDE as f64 / PAD) as i32).clamp(0, SIDE as i32 - 1);
        let (x, y) = (cell(f64::from(event.client_x()) - corner.left()), cell(f64::from(event.client_y()) - corner.top()));
        let (x0, y0) = last.get_value().unwrap_or((x, y));
        last.set_value(Some((x, y)));
        let mut drawing = pixels();
        let steps_along = (x - x0).abs().max((y - y0).abs()).max(1);
        for i in 0..=steps_along {
            let (cx, cy) = (x0 + (x - x0) * i / steps_along, y0 + (y - y0) * i / steps_along);
            drawing[cy as usize * SIDE + cx as usize] = 1;
        }
        drawing_now.set(Some(drawing));
    };
    // The stroke ends: the episode takes the drawing.
    let end = move || {
        last.set_value(None);
        if let Some(drawing) = drawing_now.get_untracked() {
            drawing_now.set(None);
            set(drawing);
        }
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            let name = file.name();
            leptos::task::spawn_local(async move {
                let read = crate::picture::decode(&name, &file.into()).await.and_then(|p| {
                    let rgb = report::image::Rgb::from_rgba(p.width, p.height, &p.rgba).map_err(|e| e.to_string())?;
                    character::drawing(&rgb).map_err(|e| e.to_string())
                });
                match read {
                    Ok(drawing) => {
                        state.vision.notice.set(None);
                        set(drawing.iter().map(|&p| u8::from(p > 0.5)).collect());
                    }
                    Err(message) => state.vision.notice.set(Some(format!("{name}: {message}"))),
                }
            });
        }
        input.set_value("");
    };
    let label = name.clone();
    view! {
        <li class="episode-pad" data-testid=format!("episode-pad-{slot}") data-ink=move || pixels().iter().filter(|&&p| p > 0).count().to_string()>
            <span class="episode-label">{name}</span>
            <div class="pad"
                on:pointerdown=move |event: web_sys::PointerEvent| { event.prevent_default(); last.set_value(None); stroke(&event); }
                on:pointermove=move |event: web_sys::PointerEvent| if event.buttons() & 1 == 1 { stroke(&event) }
                on:pointerup=move |_| end()
                on:pointerleave=move |_| end()>
                {move || view! { <Drawing pixels=pixels() side=SIDE size=PAD label=format!("the drawing of {label}") /> }}
            </div>
            <button type="button" data-testid=format!("episode-pad-{slot}-clear") on:click=move |_| set(Vec::new())>"Clear"</button>
            <label class="file-button">
                "Open a picture…"
                <input type="file" accept="image/*" data-testid=format!("episode-pad-{slot}-file") on:change=on_file />
            </label>
        </li>
    }
}
