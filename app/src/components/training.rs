//! Train attention in this tab. Dates: two encoder–decoders (Bahdanau's additive score
//! against one of Luong's, by default dot) learn side by side, on the same generated dates,
//! to write "Saturday, December 5, 2026" as "2026-12-05". Digits: a soft and a hard reader of
//! handwritten digits (see `glimpses`). Memory: networks of bAbI-style tasks 1 and 2 answer
//! stories (see `story_hops`). SNAIL: a few-shot learner of handwritten characters reads
//! episodes (see `episode`). Each model's held-out accuracy, its loss, and its
//! reading of an example redrawn as it learns; Stop, Resume, the files to download, and a
//! trained dates model opened in the page like a person's own.

use leptos::prelude::*;
use protocol::{TrainingProgress, TrainingTask};
use report::AttentionReport;
use wasm_bindgen::JsCast;

use super::episode::EpisodeView;
use super::export::download_bytes;
use super::glimpses::GlimpseStrips;
use super::open_model::open_named;
use super::story_hops::StoryHops;
use crate::state::{AppState, Display, TrainAsk, TrainedFiles, Training};

/// The scores a model can use, with what the picker says of each.
const SCORES: [(&str, &str); 5] = [
    ("additive", "additive (Bahdanau: vᵀ tanh(W₁h + W₂s), the previous state asks)"),
    ("dot", "dot (Luong: sᵀh, the current state asks)"),
    ("general", "general (Luong: sᵀW h)"),
    ("concat", "concat (Luong: vᵀ tanh(W[s; h]))"),
    ("local", "local-p (Luong: general in a window at a predicted position)"),
];

fn score_title(score: &str) -> String {
    match score {
        "soft" => "Soft attention: the expected glimpse".into(),
        "hard" => "Hard attention: one window drawn, learnt by REINFORCE".into(),
        "babi-1" => "Task 1: a single supporting fact (“Where is Mary?”)".into(),
        "babi-2" => "Task 2: two supporting facts (“Where is the football?”)".into(),
        "snail" => "SNAIL: 5-way 1-shot, on alphabets it never saw".into(),
        "additive" => "Bahdanau, additive".into(),
        "local" => "Luong, local-p".into(),
        other => format!("Luong, {other}"),
    }
}

#[component]
pub fn TrainingPanel(task: TrainingTask) -> impl IntoView {
    let training = expect_context::<AppState>().training.of(task);
    let has_models = move || training.progress.with(|p| !p.is_empty());
    let picker = move |side: usize| {
        let chosen = training.scores[side];
        view! {
            <label>{if side == 0 { "Left: " } else { "Right: " }}
                <select data-testid=format!("train-score-{side}") prop:value=move || chosen.get()
                    disabled=move || training.going.get() || training.all_scores.get()
                    on:change=move |event| chosen.set(event_target_value(&event))>
                    {SCORES.iter().map(|(name, label)| view! { <option value=*name selected=move || chosen.get() == *name>{*label}</option> }).collect_view()}
                </select>
            </label>
        }
    };
    let id = move |name: &str| match task {
        TrainingTask::Dates => name.to_string(),
        TrainingTask::Digits => format!("digits-{name}"),
        TrainingTask::Memory => format!("memory-{name}"),
        TrainingTask::Snail => format!("snail-{name}"),
    };
    let (summary, explain) = match task {
        TrainingTask::Dates => (
            "Train attention on dates, in this tab",
            "Attention was born in RNN translators (Bahdanau, Cho and Bengio 2015; Luong, Pham and Manning 2015). Here two of them learn, in this tab, \
             to write a date as ISO 8601: \"Saturday, December 5, 2026\" → \"2026-12-05\". Each reads the text's characters with a bidirectional GRU and \
             writes one character at a time, weighing every source character by its score. They train side by side on the same generated dates (ten \
             forms, month and day names from glibc's locale data), and are measured on 500 held-out days no batch ever draws. Watch each model's \
             alignment of the example go from noise to the year, month and day.",
        ),
        TrainingTask::Digits => (
            "Soft and hard attention on handwritten digits, in this tab",
            "Xu et al. (2015) captioned photographs with soft and with hard attention. No trained captioner and no caption data can be fetched here, \
             so this stands in for captioning: a reader writes the four handwritten digits of a strip one at a time, looking at the strip through one \
             of 17 windows eight pixels wide. The soft reader reads the windows' mean under its weights and learns by backpropagation; the hard reader \
             reads one window drawn from its weights, and learns where to look by REINFORCE with a baseline (the digit it wrote rewards the window it \
             drew). The digits are scikit-learn's copy of UCI's (CC BY 4.0); one picture in five is never drawn for training, and the readers are \
             measured on 500 strips of those. Under each reader: the example strip, each step's weights over it, and the window it read.",
        ),
        TrainingTask::Memory => (
            "Memory networks answer stories, in this tab",
            "Attention is memory access: in an end-to-end memory network (Sukhbaatar, Szlam, Weston and Fergus 2015) a question attends over the \
             sentences of a story, three times in turn, each hop asking again with what the last one read. Two networks learn here, from stories \
             generated in the style of the bAbI tasks (Weston et al. 2015; written for this project from the tasks' descriptions, not their \
             generator): task 1 asks where a person is (one sentence answers it), task 2 where a thing is (two sentences: who took it, and where they \
             went). As the paper trains them: 3 hops of 20 units, adjacent weight tying, position and temporal encoding, a linear start (no softmax \
             in the hops until the validation loss stops falling). Measured on 500 held-out stories no batch ever draws; under each network, a \
             held-out story with its hops and its supporting facts marked. Open a trained network in the page to ask it your own stories.",
        ),
        TrainingTask::Snail => (
            "A few-shot learner attends over the examples it was just shown (SNAIL), in this tab",
            "SNAIL (Mishra, Rohaninejad, Chen and Abbeel 2018) is shown an episode: one drawing of each of five handwritten characters it has never \
             seen, each labelled A to E, then a new drawing to name. It reads them in turn; its attention blocks let the new drawing look back at the \
             labelled ones, and its temporal convolutions (gated, dilated, causal) carry what the steps before held. The drawings are Omniglot's (Lake, \
             Salakhutdinov and Tenenbaum 2015, MIT), 28 × 28. A SNAIL this small trained from pixels stays at chance, so, as the issue's notes found: \
             first a picture embedding learns to classify the 242 characters of the background alphabets (the first 3,000 batches; the curve then \
             shows how well a nearest neighbour in it does), then it is frozen and layer-normalised, and the SNAIL learns from episodes of background \
             characters. It is measured on 400 episodes of the 20 one-shot runs, whose alphabets neither phase ever sees; chance is 20%. Under it, a \
             held-out episode with the query's attention on each drawing, per block and head. Open it in the page to give it your own drawings.",
        ),
    };
    let controls = match task {
        TrainingTask::Dates => view! {
            {picker(0)}
            {picker(1)}
            <label title="the same dates and the same example under Bahdanau's score and Luong's four, side by side">
                <input type="checkbox" data-testid="train-all-scores" prop:checked=move || training.all_scores.get() disabled=move || training.going.get()
                    on:change=move |event| training.all_scores.set(event_target_checked(&event)) />
                " all five scores"
            </label>
            <label>"Example: "
                <input type="text" data-testid="train-example" prop:value=move || training.example.get()
                    on:change=move |event| training.example.set(event_target_value(&event)) />
            </label>
        }
        .into_any(),
        TrainingTask::Digits | TrainingTask::Memory | TrainingTask::Snail => {
            let (what, most) = match task {
                TrainingTask::Digits => ("Held-out strip: ", "499"),
                TrainingTask::Memory => ("Held-out story: ", "499"),
                _ => ("Held-out episode: ", "399"),
            };
            view! {
                <label>{what}
                    <input type="number" min="0" max=most data-testid=id("train-example") prop:value=move || training.example.get()
                        on:change=move |event| training.example.set(event_target_value(&event).trim().to_string()) />
                </label>
            }
            .into_any()
        }
    };
    view! {
        <details class="training" data-testid=id("training")>
            <summary>{summary}</summary>
            <p class="explain">{explain}</p>
            <div class="training-controls">
                {controls}
                <label>"Seed: "
                    <input type="number" min="0" data-testid=id("train-seed") prop:value=move || training.seed.get().to_string() disabled=move || training.going.get()
                        on:change=move |event| if let Ok(seed) = event_target_value(&event).trim().parse() { training.seed.set(seed) } />
                </label>
                <button type="button" data-testid=id("train") disabled=move || training.going.get()
                    on:click=move |_| training.asked.set(Some(TrainAsk::Start { resume: false }))>"Train"</button>
                <button type="button" data-testid=id("train-stop") disabled=move || !training.going.get()
                    on:click=move |_| training.asked.set(Some(TrainAsk::Stop))>"Stop"</button>
                <button type="button" data-testid=id("train-resume") disabled=move || training.going.get() || !has_models()
                    on:click=move |_| training.asked.set(Some(TrainAsk::Start { resume: true }))>"Resume"</button>
            </div>
            <p class="training-status" data-testid=id("training-status") aria-live="polite">{move || status(&training)}</p>
            <div class="training-models">
                {move || (0..training.progress.with(Vec::len)).map(|index| view! { <TrainedModel training index prefix=id("trained") /> }).collect_view()}
            </div>
        </details>
    }
}

/// What the training is doing, in a sentence.
fn status(training: &Training) -> String {
    if let Some(failed) = training.failed.get() {
        return format!("Training stopped: {failed}");
    }
    let seconds = training.millis.get() / 1000.0;
    let going = training.going.get();
    let (starting, idle) = match training.task {
        TrainingTask::Dates => {
            ("Starting: making the models and the held-out dates…", "Press Train: a model reaches 99% of held-out dates exact in a few hundred batches of 64.")
        }
        TrainingTask::Digits => (
            "Starting: fetching the digits, making the readers and the held-out strips…",
            "Press Train: a soft reader reads 85% of held-out strips whole in about 600 batches of 32, a hard one in about 2,000.",
        ),
        TrainingTask::Memory => (
            "Starting: making the networks, the validation and the held-out stories…",
            "Press Train: task 1 answers 95% of held-out stories in about 1,000 batches of 32, task 2 in about 2,500.",
        ),
        TrainingTask::Snail => (
            "Starting: fetching Omniglot, making the picture embedding, the SNAIL and the held-out episodes…",
            "Press Train: 3,000 batches of 64 drawings pre-train the picture embedding, then about 1,000 batches of 32 episodes take the SNAIL to 72% of unseen alphabets' episodes (chance 20%).",
        ),
    };
    match (going, training.progress.with(Vec::is_empty)) {
        (true, true) => starting.into(),
        (false, true) => idle.into(),
        (true, false) if training.progress.with(|p| p.iter().any(|m| m.preparing)) => {
            format!("Pre-training the picture embedding on the background alphabets… {seconds:.1} s")
        }
        (true, false) => format!("Training… {seconds:.1} s"),
        (false, false) => format!("Stopped after {seconds:.1} s: Resume goes on from here; the files below are the models as they are."),
    }
}

/// The latest measure of a model: (steps, exact, digits from their field).
fn latest(progress: &TrainingProgress) -> Option<(usize, f64, f64)> {
    progress.measured.last().copied()
}

#[component]
fn TrainedModel(training: Training, index: usize, prefix: String) -> impl IntoView {
    let progress = Memo::new(move |_| training.progress.with(|p| p.get(index).cloned()));
    let files = Memo::new(move |_| training.files.with(|f| f.get(index).cloned().flatten()));
    let id = format!("{prefix}-{index}");
    let task = training.task;
    let shown = id.clone();
    view! {
        <section class="trained-model" data-testid=id.clone()>
            {move || progress.get().map(|p| {
                let id = shown.clone();
                let measured = latest(&p).map_or("not measured yet".to_string(), |(at, exact, field)| match task {
                    TrainingTask::Dates => format!("{:.1}% of held-out dates exact, {:.1}% of digits read from their field (at batch {at})", 100.0 * exact, 100.0 * field),
                    TrainingTask::Digits => format!("{:.1}% of held-out strips read whole, {:.1}% of steps looked at their digit (at batch {at})", 100.0 * exact, 100.0 * field),
                    TrainingTask::Memory => format!("{:.1}% of held-out stories answered, {:.1}% of supporting facts weighed most by a hop (at batch {at})", 100.0 * exact, 100.0 * field),
                    TrainingTask::Snail if p.preparing => format!(
                        "picture embedding: {:.1}% of held-out episodes by its nearest neighbour, {:.1}% of held-out background drawings classified (at batch {at})",
                        100.0 * exact, 100.0 * field
                    ),
                    TrainingTask::Snail => format!("{:.1}% of held-out episodes answered (chance 20%), {:.1}% with the last block's attention on the right drawing (at batch {at})", 100.0 * exact, 100.0 * field),
                });
                let (exact, field) = latest(&p).map_or((0.0, 0.0), |(_, e, f)| (e, f));
                let history = p.measured.iter().map(|(s, e, f)| format!("{s}:{e:.4}:{f:.4}")).collect::<Vec<_>>().join(" ");
                // The last loss told: a model done waits for the other without batches of its own.
                let last_loss = training.losses.with(|l| l.get(index).and_then(|h| h.last()).map(|&(_, loss)| loss));
                let legend = match task {
                    TrainingTask::Dates => "solid: held-out dates exact · dashed: digits read from their field · grey: loss (1 = its first value) · across: batches",
                    TrainingTask::Digits => "solid: held-out strips read whole · dashed: steps that looked at their digit · grey: loss (1 = its first value) · across: batches",
                    TrainingTask::Memory => "solid: held-out stories answered · dashed: supporting facts weighed most by a hop · grey: loss (1 = its first value) · across: batches",
                    TrainingTask::Snail => "solid: held-out episodes answered (before batch 3,000: by the embedding's nearest neighbour) · dashed: the last block's attention on the right drawing (before: background drawings classified) · grey: loss · across: batches",
                };
                let supporting = p.supporting.clone();
                let is_story = task == TrainingTask::Memory;
                view! {
                    <h3>{score_title(&p.score)}</h3>
                    <p class="training-numbers" data-testid=format!("{id}-numbers") data-steps=p.steps.to_string()
                        data-exact=format!("{exact:.4}") data-field=format!("{field:.4}")
                        data-measured=history>
                        {format!("batch {} · loss {} · {measured}", p.steps, last_loss.map_or("…".into(), |l| format!("{l:.3}")))}
                    </p>
                    <Curves measured=p.measured.clone() losses=training.losses.with(|l| l.get(index).cloned().unwrap_or_default()) legend />
                    {p.example.map(|report| if is_story {
                        view! { <StoryHops report supporting id=format!("{id}-hops") /> }.into_any()
                    } else if task == TrainingTask::Snail {
                        view! { <EpisodeView report right=supporting.first().copied() id=format!("{id}-episode") /> }.into_any()
                    } else {
                        view! { <ExampleAlignment report index /> }.into_any()
                    })}
                    {p.glimpses.map(|glimpses| view! { <GlimpseStrips glimpses id=format!("{id}-glimpses") /> })}
                }
            })}
            {move || files.get().map(|files| view! { <ModelFiles files index task /> })}
        </section>
    }
}

/// Held-out accuracy (exact, digits from their field) and the loss, against batches.
#[component]
fn Curves(measured: Vec<(usize, f64, f64)>, losses: Vec<(usize, f64)>, legend: &'static str) -> impl IntoView {
    const WIDTH: f64 = 260.0;
    const HEIGHT: f64 = 90.0;
    let last = measured.iter().map(|m| m.0).chain(losses.iter().map(|l| l.0)).max().unwrap_or(1).max(1) as f64;
    let x = move |steps: usize| 4.0 + (WIDTH - 8.0) * steps as f64 / last;
    let points = |values: Vec<(usize, f64)>| {
        values.into_iter().map(|(s, v)| format!("{:.1},{:.1}", x(s), 4.0 + (HEIGHT - 8.0) * (1.0 - v.clamp(0.0, 1.0)))).collect::<Vec<_>>().join(" ")
    };
    let exact = points(measured.iter().map(|m| (m.0, m.1)).collect());
    let field = points(measured.iter().map(|m| (m.0, m.2)).collect());
    // The loss starts near ln 13 ≈ 2.6 (a guess among 13 symbols; ln 10 among digits): shown
    // as a share of its first value.
    let first = losses.first().map_or(1.0, |l| l.1).max(1e-9);
    let loss = points(losses.iter().map(|&(s, l)| (s, l / first)).collect());
    view! {
        <svg class="curves" width=WIDTH height=HEIGHT viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img"
            aria-label=legend>
            <rect x="0" y="0" width=WIDTH height=HEIGHT class="frame" />
            <polyline class="loss" points=loss />
            <polyline class="field" points=field />
            <polyline class="exact" points=exact />
        </svg>
        <p class="legend">{legend}</p>
    }
}

/// The example's alignment: the model's output characters as rows, the example's characters
/// as columns, each cell the weight (the same colours as every map).
#[component]
fn ExampleAlignment(report: AttentionReport, index: usize) -> impl IntoView {
    let display = expect_context::<Display>();
    const CELL: f64 = 13.0;
    const LEFT: f64 = 44.0;
    const TOP: f64 = 16.0;
    let source: Vec<String> = report.sequence("source").map(|s| s.tokens.iter().map(|t| t.text.clone()).collect()).unwrap_or_default();
    let target: Vec<String> = report.sequence("target").map(|s| s.tokens.iter().map(|t| t.text.clone()).collect()).unwrap_or_default();
    let Some(site) = report.site("cross").cloned() else { return ().into_any() };
    let written = report.translation.as_ref().map_or(String::new(), |t| t.text.clone());
    let (width, height) = (LEFT + CELL * source.len() as f64 + 2.0, TOP + CELL * target.len() as f64 + 2.0);
    let (rows, columns) = (target.len(), source.len());
    let cells = move || {
        let scale = display.colour_scale.get();
        let mut cells = Vec::new();
        for i in 0..rows {
            for j in 0..columns {
                let w = site.maps.weight(0, 0, i, j);
                let (r, g, b) = scale.colour(w);
                cells.push(view! {
                    <rect x=format!("{:.1}", LEFT + CELL * j as f64) y=format!("{:.1}", TOP + CELL * i as f64) width=CELL height=CELL
                        fill=format!("rgb({r},{g},{b})") data-row=i.to_string() data-column=j.to_string() data-weight=format!("{w:.4}") />
                });
            }
        }
        cells.collect_view()
    };
    let column_labels = source
        .iter()
        .enumerate()
        .map(|(j, t)| view! { <text class="column" x=format!("{:.1}", LEFT + CELL * (j as f64 + 0.5)) y="12">{visible(t)}</text> })
        .collect_view();
    let row_labels = target
        .iter()
        .enumerate()
        .map(|(i, t)| view! { <text class="row" x=format!("{:.1}", LEFT - 4.0) y=format!("{:.1}", TOP + CELL * (i as f64 + 0.75))>{visible(t)}</text> })
        .collect_view();
    view! {
        <figure class="example-alignment">
            <svg data-testid=format!("trained-{index}-alignment") data-written=written.clone() width=width height=height viewBox=format!("0 0 {width} {height}")
                role="img" aria-label=format!("the alignment that wrote {written}: output characters as rows, the example's characters as columns")>
                {column_labels}
                {row_labels}
                {cells}
            </svg>
            <figcaption>{format!("writes \"{written}\"")}</figcaption>
        </figure>
    }
    .into_any()
}

/// A symbol as a label: a space shown as ␣.
fn visible(token: &str) -> String {
    if token == " " {
        "␣".into()
    } else {
        token.to_string()
    }
}

/// The model's files to download, and a dates model opened in the page.
#[component]
fn ModelFiles(files: TrainedFiles, index: usize, task: TrainingTask) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (name, id) = match task {
        TrainingTask::Dates => (format!("dates-{}", files.score), format!("trained-{index}")),
        TrainingTask::Digits => (format!("digits-{}", files.score), format!("digits-trained-{index}")),
        TrainingTask::Memory => (format!("memory-{}", files.score), format!("memory-trained-{index}")),
        TrainingTask::Snail => ("snail-omniglot".to_string(), format!("snail-trained-{index}")),
    };
    let pieces: Vec<(&str, Vec<u8>)> = [
        ("config.json", files.config.clone().into_bytes()),
        ("vocabulary.json", files.vocabulary.clone().into_bytes()),
        ("model.safetensors", files.weights.clone()),
    ]
    .into_iter()
    .filter(|(_, bytes)| !bytes.is_empty()) // a reader has no vocabulary
    .collect();
    let download = pieces
        .iter()
        .cloned()
        .map(|(file, bytes)| {
            let saved_as = format!("{name}-{file}");
            view! { <button type="button" class="download" on:click=move |_| { let _ = download_bytes(&bytes, &saved_as); }>{file}</button> }
        })
        .collect_view();
    let open = move |_| {
        let made: Vec<web_sys::File> = pieces.iter().filter_map(|(file, bytes)| file_of(file, bytes)).collect();
        open_named(state, made, format!("file:{name}"));
    };
    let after = match task {
        TrainingTask::Dates | TrainingTask::Memory => view! {
            " (put the three in a folder: `attnscope run --model FOLDER --text …` runs it) "
            <button type="button" data-testid=format!("{id}-open") on:click=open>"Open in the page"</button>
        }
        .into_any(),
        TrainingTask::Digits => " (the same files as `attnscope train digits` writes)".into_any(),
        TrainingTask::Snail => view! {
            " (put the two in a folder: `attnscope run --model FOLDER --examples A.png,B.png,… --image QUERY.png` runs it) "
            <button type="button" data-testid=format!("{id}-open") on:click=open>"Open in the page"</button>
        }
        .into_any(),
    };
    view! {
        <div class="model-files" data-testid=format!("{id}-files")>
            "Download: " {download}
            {after}
        </div>
    }
}

/// A `File` of `bytes` named `name`, as if a person had picked it.
fn file_of(name: &str, bytes: &[u8]) -> Option<web_sys::File> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::File::new_with_u8_array_sequence(&parts, name).ok().map(|f| f.unchecked_into())
}
