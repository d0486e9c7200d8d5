//! The page's state: what is selected, what has come back from the worker, and
//! what follows from both. Views read it through context.

use std::sync::Arc;

use leptos::prelude::*;
use report::analysis::heads::{score_report, Exclusions, HeadScores};
use report::analysis::probe::ProbeScores;
use report::{AttentionReport, Framing, Mask, ModelInfo, ModelKind, WeightChoice};

use crate::catalog::CatalogModel;
use crate::components::alignment::Alignment;
use crate::protocol::LoadStage;
use crate::url_state::ViewState;
use crate::weighting::{ShownMap, Weighting};
use report::analysis::reading::Reading;
use report::figure::colour::{ColourScale, ValueScale};

/// The tabs of the head detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Heatmap,
    Lines,
    Table,
    Math,
    /// Several heads of the layer at once.
    Overlay,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Heatmap, Tab::Lines, Tab::Table, Tab::Math, Tab::Overlay];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Heatmap => "heatmap",
            Tab::Lines => "lines",
            Tab::Table => "table",
            Tab::Math => "math",
            Tab::Overlay => "overlay",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Heatmap => "Heatmap",
            Tab::Lines => "Lines",
            Tab::Table => "Table",
            Tab::Math => "Math",
            Tab::Overlay => "Overlay",
        }
    }
}

/// What the status line says.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Starting,
    Loading {
        model: String,
        stage: LoadStage,
        loaded: u64,
        total: Option<u64>,
    },
    Computing,
    /// A long text's run goes on: `done` of `total` layers have attended its `tokens`
    /// tokens (`cut`: where the text was cut to the page's limit).
    Attending {
        done: usize,
        total: usize,
        tokens: usize,
        cut: Option<report::Truncation>,
    },
    /// A translation grows: the target tokens so far, of at most `limit`.
    Translating {
        tokens: Vec<String>,
        limit: usize,
    },
    /// A transcript grows: its tokens so far, of at most `limit`.
    Transcribing {
        tokens: Vec<String>,
        limit: usize,
    },
    /// The report in view came back after `millis`.
    Done {
        millis: f64,
    },
    EmptyText,
    Failed(String),
}

/// The layers a long text's run has attended so far, each layer's pooled maps
/// [heads, blocks, blocks] as its report will hold them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filling {
    pub run: u64,
    pub blocks: usize,
    pub layers: Vec<Arc<[f32]>>,
}

impl Filling {
    /// `layers` and the maps of the next one, for run `run` (a run of another number starts afresh).
    pub fn with_layer(earlier: Option<&Filling>, run: u64, blocks: usize, maps: Vec<f32>) -> Self {
        let mut layers = earlier.filter(|f| f.run == run && f.blocks == blocks).map(|f| f.layers.clone()).unwrap_or_default();
        layers.push(maps.into());
        Self { run, blocks, layers }
    }

    /// Head `head`'s pooled map in `layer`, once the run has attended that layer.
    pub fn head(&self, layer: usize, head: usize) -> Option<&[f32]> {
        let size = self.blocks * self.blocks;
        self.layers.get(layer)?.get(head * size..(head + 1) * size)
    }

    /// Where a pooled map ([blocks, blocks]) looks on average: the column block its weight
    /// falls on, weighted by it.
    pub fn centre(map: &[f32]) -> f32 {
        let blocks = (map.len() as f64).sqrt().round().max(1.0) as usize;
        let (weighted, total) = map.iter().enumerate().fold((0.0f64, 0.0f64), |(w, t), (i, &v)| (w + (i % blocks) as f64 * v as f64, t + v as f64));
        if total > 0.0 {
            (weighted / total) as f32
        } else {
            0.0
        }
    }

    /// The mean of `layer`'s heads, [blocks, blocks].
    pub fn layer_mean(&self, layer: usize) -> Option<Vec<f32>> {
        let maps = self.layers.get(layer)?;
        let heads = maps.len() / (self.blocks * self.blocks).max(1);
        let maps = report::AttentionMaps::from_shape([1, heads, self.blocks, self.blocks], maps.to_vec())?;
        Some(report::analysis::summary::layer_mean(&maps, 0))
    }
}

/// One head's whole map, computed by the worker when a view asks for it (the report holds
/// the maps pooled): flat [queries, keys].
#[derive(Clone, Debug, PartialEq)]
pub struct WholeMap {
    pub layer: usize,
    pub head: usize,
    pub queries: usize,
    pub keys: usize,
    pub values: Vec<f32>,
    /// How long the worker took to compute it.
    pub millis: f64,
}

impl WholeMap {
    /// The weight of `query` on `key`.
    pub fn at(&self, query: usize, key: usize) -> Option<f32> {
        (query < self.queries && key < self.keys).then(|| self.values[query * self.keys + key])
    }

    pub fn is_of(&self, layer: usize, head: usize) -> bool {
        (self.layer, self.head) == (layer, head)
    }
}

/// The page's state, shared by its views through context.
#[derive(Clone, Copy)]
pub struct AppState {
    pub catalog: RwSignal<Vec<CatalogModel>>,
    pub model: RwSignal<String>,
    /// The text as typed.
    pub draft: RwSignal<String>,
    /// The text last sent to run (the draft once typing pauses).
    pub text: RwSignal<String>,
    pub mask: RwSignal<Mask>,
    /// The path a GGUF's weights load on: float32, quantized, or what fits (the default).
    pub weights: RwSignal<WeightChoice>,
    pub layer: RwSignal<usize>,
    pub head: RwSignal<usize>,
    /// The model the worker has loaded and its load time, once it has.
    pub loaded: RwSignal<Option<(ModelInfo, f64)>>,
    /// The report of the text in the box (or, while it computes, of the text before);
    /// `None` while there is none.
    pub report: RwSignal<Option<Arc<AttentionReport>>>,
    /// The text the report is of.
    pub report_text: RwSignal<String>,
    pub status: RwSignal<Status>,
    /// A long text's run going on: the pooled maps of the layers it has attended so far,
    /// which the grid shows until the report comes.
    pub filling: RwSignal<Option<Arc<Filling>>>,
    /// The head detail's tab.
    pub tab: RwSignal<Tab>,
    /// Whether the mask comparison is shown (and so the other mask runs too).
    pub compare: RwSignal<bool>,
    /// The report under the other mask, while comparing.
    pub compare_report: RwSignal<Option<Arc<AttentionReport>>>,
    /// What the head grid's thumbnails show.
    pub grid_colour: RwSignal<GridColour>,
    /// Every head's look-ahead mass, [layer][head], while both masks' reports are there.
    pub lookahead: Memo<Option<Vec<Vec<f32>>>>,
    /// Every head's scores on the current text, in (layer, head) order.
    pub head_scores: Memo<Option<Vec<HeadScores>>>,
    /// The value each thumbnail shows as a flat colour, [layer][head]; `None` while they show maps.
    pub grid_values: Memo<Option<Vec<Vec<f32>>>>,
    /// The token under the pointer in the token strip.
    pub hovered_token: RwSignal<Option<usize>>,
    /// The token clicked in the token strip (or chosen as the arithmetic's query).
    pub pinned_token: RwSignal<Option<usize>>,
    /// A link to this view, once the Copy link button made one.
    pub copied_link: RwSignal<Option<String>>,
    /// The induction probe's state.
    pub probe: RwSignal<ProbeState>,
    /// The head the probe view shows: the strongest induction head once the probe has
    /// run, then whichever row of its ranking is clicked.
    pub probe_head: RwSignal<(usize, usize)>,
    /// Random tokens a copy in the next probe ([`crate::PROBE_LENGTHS`]).
    pub probe_length: RwSignal<usize>,
    /// The colour scale of the maps.
    pub colour_scale: RwSignal<ColourScale>,
    /// What the selected head's map is weighted by.
    pub weighting: RwSignal<Weighting>,
    /// The selected head's map as shown (see [`AppState::shown_map`]).
    shown: Memo<SelectedMap>,
    /// How every map is read: the first token hidden, pieces merged into words.
    pub reading: RwSignal<Reading>,
    /// Linear or logarithmic colour.
    pub value_scale: RwSignal<ValueScale>,
    /// The heads of the selected layer the overlay draws together.
    pub overlay_heads: RwSignal<Vec<usize>>,
    /// What a translation's alignment map shows.
    pub alignment: RwSignal<Alignment>,
    /// The translated token under the pointer, and the one clicked (pinned).
    pub hovered_target: RwSignal<Option<usize>>,
    pub pinned_target: RwSignal<Option<usize>>,
    /// How many threads the engine's worker computes on (0 until it has started).
    pub threads: RwSignal<usize>,
    /// The worker's wasm memory in bytes, as its last answer said.
    pub wasm_memory: RwSignal<u64>,
    /// The sound a speech model hears (16 kHz mono), once there is one.
    pub audio: RwSignal<Option<Arc<crate::audio::Clip>>>,
    /// What the audio panel has to say: a refused microphone, a file it cannot decode,
    /// a sound cut to 30 s.
    pub audio_notice: RwSignal<Option<String>>,
    /// What the cross-attention map shows: one head, its layer's mean, or the alignment heads' mean.
    pub cross_view: RwSignal<crate::components::speech::CrossView>,
    /// Whether the encoder's map is shown whole (every frame) rather than pooled.
    pub encoder_zoom: RwSignal<bool>,
    /// A head's whole map where the report holds its maps pooled (a speech model's encoder,
    /// a long text), asked for by the view that shows it.
    pub whole_map: RwSignal<Option<Arc<WholeMap>>>,
    /// Why the whole map asked for did not come (the view says so).
    pub whole_map_failed: RwSignal<Option<String>>,
    /// The number of the run whose report is in view (a long text's whole maps are asked of it).
    pub report_run: RwSignal<u64>,
    /// The picture a vision model looks at, once there is one.
    pub picture: RwSignal<Option<Arc<crate::picture::Picture>>>,
    /// The picture the report in view is of (while a newer one computes, `picture` is ahead
    /// of it: the overlays keep the picture their numbers belong to).
    pub looked_at: RwSignal<Option<Arc<crate::picture::Picture>>>,
    /// What the image panel has to say: a file it cannot decode, a picture scaled down.
    pub picture_notice: RwSignal<Option<String>>,
    /// How the picture is framed into the model's square input.
    pub framing: RwSignal<Framing>,
    /// What the picture's overlay shows: the selected head, its layer's mean, or the rollout.
    pub patch_view: RwSignal<crate::components::vision::PatchView>,
    /// Heads switched off, the answer, the patch source and what the sweeps found.
    pub interventions: crate::interventions::Interventions,
    /// The `File` objects of the models the person opened, by model id.
    pub local_files: StoredValue<std::collections::HashMap<String, js_sys::Array>, LocalStorage>,
}

/// The selected head's map, compared by identity: a new one is made only when what it is
/// made of changed, so comparing its numbers again would be work for nothing.
#[derive(Clone)]
struct SelectedMap(Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)>);

impl PartialEq for SelectedMap {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.3, &b.3),
            (None, None) => true,
            _ => false,
        }
    }
}

/// Where the induction probe is.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeState {
    Idle,
    /// Asked for before the model had loaded: it runs once the model is there.
    Waiting,
    /// `done` of `total` runs, or of all the runs' layers when the probe is pooled (`layers`).
    Running {
        done: usize,
        total: usize,
        layers: bool,
    },
    Done(Arc<ProbeOutcome>),
    Failed(String),
}

/// What the induction probe found.
#[derive(Debug, PartialEq)]
pub struct ProbeOutcome {
    /// Every head's mean scores over the probe's runs.
    pub scores: Vec<ProbeScores>,
    /// The first run's report, to show the pattern.
    pub report: AttentionReport,
    /// Where the random copy starts, and its length.
    pub offset: usize,
    pub length: usize,
    pub millis: f64,
}

impl ProbeOutcome {
    /// Every head's scores, the strongest induction head first.
    pub fn ranked(&self) -> Vec<ProbeScores> {
        let mut scores = self.scores.clone();
        scores.sort_by(|a, b| b.induction.total_cmp(&a.induction));
        scores
    }
}

/// What the head grid's thumbnails show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridColour {
    /// Each head's map.
    Maps,
    /// Each head's look-ahead mass in the unmasked run (a flat colour).
    Lookahead,
    /// One of each head's scores on the current text (a flat colour), by name.
    Score(&'static str),
    /// How far each head's map moved from the run with no head switched off.
    Change,
    /// Each head's effect on the answer, as a sweep or the attribution found it (blue
    /// where the answer lost, red where it gained).
    Effect(crate::interventions::EffectKind),
}

impl GridColour {
    /// Whether its values are signed (drawn blue–white–red around 0).
    pub fn is_signed(self) -> bool {
        matches!(self, GridColour::Effect(_))
    }
}

impl AppState {
    /// Whether the chosen model is a translator (an encoder–decoder): the views that
    /// need one sequence or a causal language model say so instead of running.
    pub fn is_translator(&self) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.kind == Some(ModelKind::Translation)))
    }

    /// Whether the chosen model is a speech model (its input is sound, not text).
    pub fn is_speech(&self) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.kind == Some(ModelKind::Speech)))
    }

    /// Whether the chosen model is a Vision Transformer (its input is a picture).
    pub fn is_vision(&self) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.kind == Some(ModelKind::Vision)))
    }

    /// Whether the chosen model is an encoder–decoder (a translator, a speech model).
    pub fn is_encoder_decoder(&self) -> bool {
        self.is_translator() || self.is_speech()
    }

    /// Whether the chosen model runs with its own masks only and keeps no value norms (an
    /// encoder–decoder, a Vision Transformer): no mask to compare, no value-weighted map.
    pub fn runs_own_masks(&self) -> bool {
        self.is_encoder_decoder() || self.is_vision()
    }

    /// Whether the input is a whole thing that runs as it arrives (a sound, a picture), not
    /// a text typed.
    pub fn takes_whole_input(&self) -> bool {
        self.is_speech() || self.is_vision()
    }

    /// Whether the chosen model is a GGUF file (whose weights may stay quantized).
    pub fn model_is_gguf(&self) -> bool {
        let model = self.model.get();
        self.catalog.with(|c| c.iter().any(|m| m.id == model && m.files.iter().any(|f| f.name.to_lowercase().ends_with(".gguf"))))
    }

    /// Whether the report in view is a long text's (its maps pooled; see `LONG_MAX_TOKENS`).
    pub fn is_long(&self) -> bool {
        self.report.with(|r| r.as_ref().and_then(|r| r.sites.first()).is_some_and(|s| !s.form.is_whole()))
    }

    /// The causal and the unmasked report of the same tokens, while comparing.
    pub fn both_masks(&self) -> Option<(Arc<AttentionReport>, Arc<AttentionReport>)> {
        let (main, other) = (self.report.get()?, self.compare_report.get()?);
        let same_tokens = main.tokens().iter().map(|t| t.id).eq(other.tokens().iter().map(|t| t.id));
        if !same_tokens || main.mask == other.mask {
            return None; // the other run is still on its way
        }
        Some(if main.mask.is_causal() { (main, other) } else { (other, main) })
    }

    /// Whether the maps in view are of a text other than the one in the box (the box's
    /// text is still computing): the views dim and say so.
    pub fn stale(&self) -> bool {
        // A speech or vision model's report is of the input named in `report_text`, not of the box's text.
        if self.takes_whole_input() {
            return false;
        }
        self.report.with(Option::is_some) && self.report_text.get() != self.draft.get()
    }

    /// The translated token the alignment views highlight: the hovered one, else the pinned one.
    pub fn focused_target(&self) -> Option<usize> {
        self.hovered_target.get().or(self.pinned_target.get())
    }

    /// The token every view highlights: the hovered one, else the pinned one.
    pub fn focused_token(&self) -> Option<usize> {
        let tokens = self.report.with(|r| r.as_ref().map_or(0, |r| r.tokens().len()));
        self.hovered_token.get().or(self.pinned_token.get()).filter(|&i| i < tokens)
    }

    /// The view as the URL holds it.
    pub fn view_state(&self) -> ViewState {
        ViewState {
            text: self.text.get(),
            model: self.model.get(),
            layer: self.layer.get(),
            head: self.head.get(),
            mask: self.mask.get(),
            tab: self.tab.get(),
            weighting: self.weighting.get(),
            token: self.pinned_token.get(),
            alignment: self.alignment.get(),
            reading: self.reading.get(),
            value_scale: self.value_scale.get(),
            ablated: self.interventions.ablated.get(),
            ablation: self.interventions.ablation.get(),
            answer: self.interventions.answer.get(),
            versus: self.interventions.versus.get(),
            patch_source: self.interventions.patch_source.get(),
            effects: match self.grid_colour.get() {
                GridColour::Effect(kind) => Some(kind),
                _ => None,
            },
        }
    }

    /// The report and the selected (layer, head), when the report has that head.
    /// Reads the signals, so a view that calls it follows them.
    pub fn selected_head(&self) -> Option<(Arc<AttentionReport>, usize, usize)> {
        let report = self.report.get()?;
        let (layer, head) = (self.layer.get(), self.head.get());
        (layer < report.attention().layers() && head < report.attention().heads()).then_some((report, layer, head))
    }

    /// The selected head's map as its views show it, weighted and read as chosen. Computed
    /// once per change of what it depends on ([`AppState::shown`]), not per view or per
    /// pointer move.
    pub fn shown_map(&self) -> Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)> {
        self.shown.get().0
    }

    fn compute_shown_map(&self) -> Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)> {
        let (report, layer, head) = self.selected_head()?;
        let shown = Arc::new(self.map_of(&report, layer, head));
        Some((report, layer, head, shown))
    }

    /// Any head's map of `report`, weighted and read as chosen.
    pub fn map_of(&self, report: &AttentionReport, layer: usize, head: usize) -> ShownMap {
        self.report_text.with(|text| ShownMap::of(report, layer, head, self.weighting.get(), self.reading.get(), text))
    }

    pub(crate) fn new(initial: ViewState) -> Self {
        let report = RwSignal::new(None::<Arc<AttentionReport>>);
        let compare_report = RwSignal::new(None::<Arc<AttentionReport>>);
        let lookahead = Memo::new(move |_| {
            [report.get(), compare_report.get()]
                .into_iter()
                .flatten()
                .find(|r| r.mask == Mask::None)
                .map(|unmasked| report::analysis::summary::lookahead_mass(unmasked.attention()))
        });
        // TransformerLens's defaults: nothing left out.
        let head_scores = Memo::new(move |_| report.get().map(|r| score_report(&r, Exclusions::default())));
        let interventions = crate::interventions::Interventions::new(
            initial.ablated.clone(),
            initial.ablation,
            (initial.answer.clone(), initial.versus.clone()),
            initial.patch_source.clone(),
            initial.effects,
        );
        let grid_colour = RwSignal::new(initial.effects.map_or(GridColour::Maps, GridColour::Effect));
        let grid_values = Memo::new(move |_| match grid_colour.get() {
            GridColour::Change => {
                let (changed, unchanged) = (report.get()?, interventions.unchanged.get()?);
                changed.intervention.as_ref()?;
                report::analysis::summary::map_change(changed.attention(), unchanged.attention())
            }
            GridColour::Effect(kind) => {
                let found = interventions.found_by(kind)?;
                Some(found.effects.per_head.chunks(found.effects.heads.max(1)).map(<[f32]>::to_vec).collect())
            }
            GridColour::Maps => None,
            GridColour::Lookahead => lookahead.get(),
            GridColour::Score(name) => {
                let heads = report.with(|r| r.as_ref().map(|r| r.model.heads))?.max(1);
                let values: Vec<f32> = head_scores.get()?.iter().map(|s| s.get(name).unwrap_or(0.0)).collect();
                Some(values.chunks(heads).map(<[f32]>::to_vec).collect())
            }
        });
        let mut state = Self {
            catalog: RwSignal::new(Vec::new()),
            model: RwSignal::new(initial.model),
            draft: RwSignal::new(initial.text.clone()),
            text: RwSignal::new(initial.text),
            mask: RwSignal::new(initial.mask),
            weights: RwSignal::new(WeightChoice::Fit),
            layer: RwSignal::new(initial.layer),
            head: RwSignal::new(initial.head),
            loaded: RwSignal::new(None),
            report,
            report_text: RwSignal::new(String::new()),
            status: RwSignal::new(Status::Starting),
            filling: RwSignal::new(None),
            tab: RwSignal::new(initial.tab),
            compare: RwSignal::new(false),
            compare_report,
            lookahead,
            grid_colour,
            head_scores,
            grid_values,
            hovered_token: RwSignal::new(None),
            pinned_token: RwSignal::new(initial.token),
            copied_link: RwSignal::new(None),
            colour_scale: RwSignal::new(ColourScale::Viridis),
            weighting: RwSignal::new(initial.weighting),
            shown: Memo::new(|_| SelectedMap(None)),
            reading: RwSignal::new(initial.reading),
            value_scale: RwSignal::new(initial.value_scale),
            overlay_heads: RwSignal::new(vec![0, 1, 2]),
            wasm_memory: RwSignal::new(0),
            alignment: RwSignal::new(initial.alignment),
            hovered_target: RwSignal::new(None),
            pinned_target: RwSignal::new(None),
            probe: RwSignal::new(ProbeState::Idle),
            probe_head: RwSignal::new((0, 0)),
            probe_length: RwSignal::new(crate::PROBE_LENGTH),
            local_files: StoredValue::new_local(Default::default()),
            audio: RwSignal::new(None),
            audio_notice: RwSignal::new(None),
            cross_view: RwSignal::new(Default::default()),
            whole_map: RwSignal::new(None),
            threads: RwSignal::new(0),
            whole_map_failed: RwSignal::new(None),
            report_run: RwSignal::new(0),
            encoder_zoom: RwSignal::new(false),
            picture: RwSignal::new(None),
            looked_at: RwSignal::new(None),
            picture_notice: RwSignal::new(None),
            framing: RwSignal::new(Framing::Letterbox),
            patch_view: RwSignal::new(Default::default()),
            interventions,
        };
        // The memo reads the state's own signals, so it is made once they exist.
        state.shown = Memo::new(move |_| SelectedMap(state.compute_shown_map()));
        state
    }
}

#[cfg(test)]
mod tests {
    use super::Filling;

    #[test]
    fn a_long_runs_layers_fill_in_one_after_another_and_a_new_run_starts_afresh() {
        // Two heads of 2 × 2 blocks a layer.
        let first = Filling::with_layer(None, 7, 2, vec![1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5]);
        let second = Filling::with_layer(Some(&first), 7, 2, vec![0.25; 8]);
        assert_eq!(second.layers.len(), 2);
        assert_eq!(second.head(0, 1), Some(&[0.0, 1.0, 0.5, 0.5][..]));
        assert_eq!(second.head(1, 0), Some(&[0.25; 4][..]));
        assert_eq!(second.head(2, 0), None, "a layer not attended yet");
        assert_eq!(second.layer_mean(0), Some(vec![0.5, 0.5, 0.5, 0.5]));
        // Head 0 of layer 0: weight 1 on column 0 in row 0, 0.5 on each column in row 1.
        assert_eq!(Filling::centre(second.head(0, 0).unwrap()), 0.25);
        let other = Filling::with_layer(Some(&second), 8, 2, vec![0.25; 8]);
        assert_eq!(other.layers.len(), 1, "another run's layers start afresh");
    }
}
