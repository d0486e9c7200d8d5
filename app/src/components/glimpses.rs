//! Where a digits reader looked: the example strip once per step, each window's weight as a
//! bar above its columns and the window read through outlined (soft: the most weighed; hard:
//! the one drawn), with the digit written beside the digit there.

use leptos::prelude::*;
use leptos::svg::Svg;
use protocol::StripGlimpses;

use super::export::download_text;

/// A pixel of the strip, in the drawing.
const PIXEL: f64 = 6.0;
/// Room for the weights' bars above each strip, and for the words at its left.
const BARS: f64 = 22.0;
const LEFT: f64 = 112.0;

#[component]
pub fn GlimpseStrips(glimpses: StripGlimpses, id: String) -> impl IntoView {
    let json = serde_json::to_string_pretty(&glimpses).unwrap_or_default();
    let StripGlimpses { height, width, pixels, window, stride, labels, starts, weights, chosen, written } = glimpses;
    let row_height = BARS + PIXEL * height as f64 + 10.0;
    let (svg_width, svg_height) = (LEFT + PIXEL * width as f64 + 4.0, row_height * weights.len() as f64);
    // The strip's ink, drawn once and reused in every step's row.
    let ink: Vec<(usize, usize, f32)> =
        (0..height).flat_map(|r| (0..width).map(move |c| (r, c))).map(|(r, c)| (r, c, pixels[r * width + c])).filter(|p| p.2 > 0.0).collect();
    let rows = weights
        .iter()
        .enumerate()
        .map(|(step, row)| {
            let top = row_height * step as f64;
            let strip_top = top + BARS;
            let most = row.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
            let bars = row
                .iter()
                .enumerate()
                .map(|(l, &w)| {
                    // A bar over the window's middle two columns, as tall as its weight (the
                    // step's largest reaches the top).
                    let x = LEFT + PIXEL * (l * stride + window / 2) as f64 - PIXEL;
                    let tall = (BARS - 4.0) * f64::from(w / most);
                    view! {
                        <rect class="glimpse-bar" fill="#4263eb" x=format!("{x:.1}") y=format!("{:.1}", strip_top - 2.0 - tall) width=format!("{:.1}", 2.0 * PIXEL - 1.0)
                            height=format!("{tall:.1}") data-window=l.to_string() data-weight=format!("{w:.4}") />
                    }
                })
                .collect_view();
            let pixels = ink
                .iter()
                .map(|&(r, c, v)| {
                    let shade = (255.0 * (1.0 - v)).round() as u8;
                    view! {
                        <rect x=format!("{:.1}", LEFT + PIXEL * c as f64) y=format!("{:.1}", strip_top + PIXEL * r as f64) width=PIXEL height=PIXEL
                            fill=format!("rgb({shade},{shade},{shade})") />
                    }
                })
                .collect_view();
            let read = chosen.get(step).copied().unwrap_or(0);
            let (wrote, truth) = (written.get(step).copied().unwrap_or(0), labels.get(step).copied().unwrap_or(0));
            let on_digit = starts.get(step).is_some_and(|&s| (s..s + height).contains(&(read * stride + window / 2)));
            let words = format!("step {}: {wrote}{}", step + 1, if wrote == truth { String::new() } else { format!(" (is {truth})") });
            view! {
                <g class="glimpse-step" data-step=step.to_string() data-chosen=read.to_string() data-written=wrote.to_string()
                    data-on-digit=on_digit.to_string()>
                    <text class="row" x="4" y=format!("{:.1}", strip_top + PIXEL * height as f64 / 2.0 + 4.0)>{words}</text>
                    <rect class="strip" fill="#fff" stroke="#999" x=LEFT y=format!("{strip_top:.1}") width=format!("{:.1}", PIXEL * width as f64) height=format!("{:.1}", PIXEL * height as f64) />
                    {pixels}
                    {bars}
                    <rect class="glimpse-window" fill="none" stroke="#d6336c" stroke-width="2" x=format!("{:.1}", LEFT + PIXEL * (read * stride) as f64) y=format!("{strip_top:.1}")
                        width=format!("{:.1}", PIXEL * window as f64) height=format!("{:.1}", PIXEL * height as f64) />
                </g>
            }
        })
        .collect_view();
    let said: String = written.iter().map(|d| d.to_string()).collect();
    let truth: String = labels.iter().map(|d| d.to_string()).collect();
    let svg = NodeRef::<Svg>::new();
    let (svg_id, json_id) = (format!("{id}-svg"), format!("{id}-json"));
    let name = id.clone();
    let save_svg = move |_| {
        if let Some(svg) = svg.get() {
            let _ = download_text(&svg.outer_html(), "image/svg+xml", &format!("{name}.svg"));
        }
    };
    let name = id.clone();
    let save_json = move |_| {
        let _ = download_text(&json, "application/json", &format!("{name}.json"));
    };
    view! {
        <figure class="glimpses">
            <svg node_ref=svg xmlns="http://www.w3.org/2000/svg" data-testid=id data-written=said.clone() width=svg_width height=svg_height viewBox=format!("0 0 {svg_width} {svg_height}") role="img"
                aria-label=format!("the strip {truth} read as {said}: each step's weights over the 17 windows as bars, the window read outlined")>
                {rows}
            </svg>
            <figcaption>
                {format!("reads \"{said}\" (the strip holds {truth}); bars: each window's weight; outline: the window read. Save: ")}
                <button type="button" class="download" data-testid=svg_id on:click=save_svg>"SVG"</button>
                <button type="button" class="download" data-testid=json_id on:click=save_json>"JSON"</button>
            </figcaption>
        </figure>
    }
}
