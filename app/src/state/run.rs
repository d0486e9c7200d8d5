//! What came back from the worker: the model loaded, the report in view and what follows
//! from it, the status line, a long text's run filling in, a head's whole map.

use std::sync::Arc;

use leptos::prelude::*;
use report::analysis::heads::HeadScores;
use report::{AttentionReport, ModelInfo};

use super::selection::Selection;
use crate::protocol::LoadStage;
use crate::weighting::ShownMap;

/// A wait for a report, in milliseconds from its start (the text changing): where it went.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Wait {
    /// The run asked of the scheduler (the page's own work before it): sent to the worker at
    /// once when it is free; while it is busy with an older text, queued until it is, so the
    /// parts after this one then hold that wait too.
    pub sent: f64,
    /// The worker's answer in this thread's queue, before it is decoded.
    pub arrived: f64,
    /// Decoded and handed to the page's state.
    pub handled: f64,
    /// The views drawn (the next frame's callback: every effect has run).
    pub drawn: f64,
    /// On the screen (after that frame is painted): the whole wait.
    pub total: f64,
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
    /// The report in view came back after `millis` (the worker's time); `waited`, once its
    /// maps are painted: the time from the text changing (or the run being asked for) to
    /// the maps on the screen, what the person waited.
    Done {
        millis: f64,
        waited: Option<Wait>,
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

/// The selected head's map, compared by identity: a new one is made only when what it is
/// made of changed, so comparing its numbers again would be work for nothing.
#[derive(Clone)]
pub(crate) struct SelectedMap(pub(crate) Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)>);

impl PartialEq for SelectedMap {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.3, &b.3),
            (None, None) => true,
            _ => false,
        }
    }
}

/// What came back from the worker.
#[derive(Clone, Copy)]
pub struct Run {
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
    /// The report under the other mask, while comparing.
    pub compare_report: RwSignal<Option<Arc<AttentionReport>>>,
    /// Every head's look-ahead mass, [layer][head], while both masks' reports are there.
    pub lookahead: Memo<Option<Vec<Vec<f32>>>>,
    /// Every head's scores on the current text, in (layer, head) order.
    pub head_scores: Memo<Option<Vec<HeadScores>>>,
    /// The selected head's map as shown (see [`AppState::shown_map`]).
    pub(crate) shown: Memo<SelectedMap>,
    /// A head's whole map where the report holds its maps pooled (a speech model's encoder,
    /// a long text), asked for by the view that shows it.
    pub whole_map: RwSignal<Option<Arc<WholeMap>>>,
    /// Why the whole map asked for did not come (the view says so).
    pub whole_map_failed: RwSignal<Option<String>>,
    /// The loaded model's positions, once the Positions panel has asked for them.
    pub positions: RwSignal<Option<Arc<report::positions::Positions>>>,
    /// Why the loaded model's positions could not be read (the panel says so).
    pub positions_failed: RwSignal<Option<String>>,
    /// Whether the Positions panel is open (the positions are fetched for each model then).
    pub positions_wanted: RwSignal<bool>,
    /// The number of the run whose report is in view (a long text's whole maps are asked of it).
    pub report_run: RwSignal<u64>,
    /// When the person's wait for the next report began (`performance.now()`): the text
    /// changing, or else a run asked for with the text as it was. Taken by the report of the
    /// text in the box, whose maps then say how long the wait was.
    pub wait_started: StoredValue<Option<f64>>,
    /// When the run the wait is for was asked of the scheduler (see [`Wait::sent`]).
    pub wait_sent: StoredValue<Option<f64>>,
}

impl Run {
    /// The token every view highlights: the hovered one, else the pinned one (while the
    /// report has it).
    pub fn focused_token(&self, selection: &Selection) -> Option<usize> {
        let tokens = self.report.with(|r| r.as_ref().map_or(0, |r| r.tokens().len()));
        selection.hovered_token.get().or(selection.pinned_token.get()).filter(|&i| i < tokens)
    }

    /// The report and the selected (layer, head), when the report has that head.
    /// Reads the signals, so a view that calls it follows them.
    pub fn selected_head(&self, selection: &Selection) -> Option<(Arc<AttentionReport>, usize, usize)> {
        let report = self.report.get()?;
        let (layer, head) = (selection.layer.get(), selection.head.get());
        (layer < report.attention().layers() && head < report.attention().heads()).then_some((report, layer, head))
    }

    /// The selected head's map as its views show it, weighted and read as chosen. Computed
    /// once per change of what it depends on (`Run::shown`, a memo), not per view or per
    /// pointer move.
    pub fn shown_map(&self) -> Option<(Arc<AttentionReport>, usize, usize, Arc<ShownMap>)> {
        self.shown.get().0
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
