//! The status line: loading progress, compute time, notices and errors.

use leptos::prelude::*;

use crate::protocol::LoadStage;
use crate::state::{Run, Status, Worker};
use crate::{LONG_MAX_TOKENS, WHOLE_MAX_TOKENS};
use report::{AttentionReport, Mask, WeightPath};

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// What the status line says for a status (and, once a run is done, its report).
pub fn describe(status: &Status, report: Option<&AttentionReport>) -> String {
    match status {
        Status::Starting => "Starting the engine…".into(),
        Status::Loading { model, stage: LoadStage::Fetching, loaded, total } => match total {
            Some(total) => format!("Loading {model}: {} of {}", megabytes(*loaded), megabytes(*total)),
            None => format!("Loading {model}: {}", megabytes(*loaded)),
        },
        Status::Loading { model, stage: LoadStage::Reading, loaded, total } => {
            let of = total.map_or(String::new(), |t| format!(" of {}", megabytes(t)));
            format!("Reading {} from your files: {}{of}", model.trim_start_matches("file:"), megabytes(*loaded))
        }
        Status::Loading { model, stage: LoadStage::Parsing, .. } => format!("Loading {model}: reading the weights…"),
        Status::Computing => "Computing…".into(),
        Status::Attending { done, total, tokens, .. } => {
            format!("A long text ({tokens} tokens, its maps kept pooled): {done} of {total} layers have attended…")
        }
        Status::Translating { tokens, limit } => {
            format!("Translating: “{}” ({} of at most {limit} tokens)…", crate::components::translation::joined(tokens), tokens.len())
        }
        Status::Transcribing { tokens, limit } => format!("Transcribing: “{}” ({} of at most {limit} tokens)…", tokens.concat().trim(), tokens.len()),
        Status::Done { millis, waited } => {
            let shown = waited.map_or(String::new(), |w| format!(", on the screen in {:.0} ms", w.total));
            format!("Computed in {millis:.0} ms{}{shown}", report.map_or(String::new(), how_it_ran))
        }
        Status::EmptyText => "The text is empty: type a sentence to see its attention.".into(),
        Status::Failed(message) => format!("Error: {message}"),
    }
}

/// Which weight path the loaded model runs, short and in full (the tooltip). The quantized
/// path's difference is the one its tests hold (tests/tests/integration/gemma3.rs).
pub fn weights_note(path: WeightPath) -> (String, String) {
    match path {
        WeightPath::Float32 => ("float32 weights".into(), "Every weight de-quantized to float32 at load: the model's own numbers.".into()),
        WeightPath::Quantized => (
            "quantized weights (as stored; the float32 maps to float rounding)".into(),
            "The file's quantized matrices stay as stored and each is de-quantized as it is used: \
             a fraction of the memory, the same maps as the float32 path to float rounding \
             (measured: at most 1e-5), a little slower."
                .into(),
        ),
    }
}

/// Whether the run reused the previous one's beginning: the page says which it shows.
fn how_it_ran(report: &AttentionReport) -> String {
    if report.translation.is_some() {
        return " (the source through the encoder, then the translation token by token)".into();
    }
    if let Some(grid) = report.sequences.first().and_then(|s| s.grid) {
        return format!(" (the picture as {} × {} patches of {} pixels, and the class token)", grid.rows, grid.columns, grid.patch_pixels);
    }
    let tokens = report.tokens().len();
    if let Some(report::MapForm::Pooled { block, .. }) = report.sites.first().map(|s| s.form) {
        return format!(" (a long text: every map kept pooled into blocks of {block} tokens; a head's whole map is computed when it is selected)");
    }
    match (report.reused_tokens, report.mask) {
        (0, Mask::Causal | Mask::PlainCausal) => String::new(),
        (0, Mask::None) => " (unmasked: every token runs again, as earlier ones see the new)".into(),
        (reused, _) => format!(" ({} new of {tokens} tokens; the first {reused} reused from the last run)", tokens - reused),
    }
}

/// Progress, timings and errors, always in the page (never only in the console).
#[component]
pub fn StatusLine() -> impl IntoView {
    let run = expect_context::<Run>();
    let worker = expect_context::<Worker>();
    let progress = move || match run.status.get() {
        Status::Loading { stage: LoadStage::Fetching | LoadStage::Reading, loaded, total: Some(total), .. } if total > 0 => {
            Some(view! { <progress max=total.to_string() value=loaded.to_string()></progress> }.into_any())
        }
        Status::Attending { done, total, .. } => {
            Some(view! { <progress data-testid="layers-progress" max=total.to_string() value=done.to_string()></progress> }.into_any())
        }
        _ => None,
    };
    let load_time = move || run.loaded.get().map(|(info, millis)| format!("{} loaded in {:.1} s", info.name, millis / 1000.0));
    let token_count =
        move || run.report.get().map(|r| if r.picture.is_some() { format!("{} items", r.tokens().len()) } else { format!("{} tokens", r.tokens().len()) });
    let weights = move || run.loaded.get().map(|(info, _)| weights_note(info.weights));
    let memory = move || Some(worker.wasm_memory.get()).filter(|&b| b > 0).map(|b| format!("wasm memory {:.0} MB", b as f64 / 1e6));
    // One thread where the page may not share memory between threads: say why.
    let threads = move || match worker.threads.get() {
        0 => None,
        1 => Some("1 thread (the page is not cross-origin isolated, so the engine cannot share memory between threads)".to_string()),
        n => Some(format!("{n} threads")),
    };
    let notice = move || {
        // A long text says where it was cut as soon as its run begins.
        let cut = match run.status.get() {
            Status::Attending { cut, .. } => cut,
            _ => run.report.get().and_then(|r| r.truncated.clone()),
        };
        cut.map(|cut| {
            let whose = if cut.limit == LONG_MAX_TOKENS || cut.limit == WHOLE_MAX_TOKENS { "this page's limit" } else { "the model's limit" };
            format!("The text gives {} tokens; only the first {} ({whose}) are shown.", cut.total_tokens, cut.limit)
        })
    };
    let failed = move || matches!(run.status.get(), Status::Failed(_));
    // The worker's time and the person's wait, for a benchmark to read as they are shown.
    let millis = move || match run.status.get() {
        Status::Done { millis, .. } => Some(format!("{millis:.0}")),
        _ => None,
    };
    let waited = move || match run.status.get() {
        Status::Done { waited, .. } => waited.map(|w| format!("{:.0}", w.total)),
        _ => None,
    };
    // Where the wait went: sent, arrived, handled, drawn (ms from the text changing).
    let wait_parts = move || match run.status.get() {
        Status::Done { waited: Some(w), .. } => Some(format!("{:.1},{:.1},{:.1},{:.1}", w.sent, w.arrived, w.handled, w.drawn)),
        _ => None,
    };
    view! {
        <div class="status-bar" role="status" aria-live="polite">
            <span data-testid="status" class="status" class:error=failed data-millis=millis data-waited=waited data-wait-parts=wait_parts>
                {move || run.report.with(|report| describe(&run.status.get(), report.as_deref()))}
            </span>
            {progress}
            <span class="facts">
                {move || [load_time(), token_count(), memory()].into_iter().flatten().collect::<Vec<_>>().join(" · ")}
            </span>
            <span class="facts" data-testid="threads" data-threads=move || worker.threads.get().to_string()>
                {threads}
            </span>
            {move || weights().map(|(short, long)| view! { <span data-testid="weights-note" class="facts" title=long>{short}</span> })}
            {move || notice().map(|text| view! { <p data-testid="notice" class="notice">{text}</p> })}
        </div>
    }
}
