//! Where a model is told each token stands: its position sets as the engine holds them (issue
//! 32). A Transformer has no recurrence; each family says "where" in its own way:
//!
//! - rotary (Llama, SmolLM2, Gemma): each head's query and key pairs turn by p · θ_i, with
//!   θ_i = base^(−2i / rotated); Gemma 3 has two bases, one for its windowed layers;
//! - learned (GPT-2, BERT and MiniLM, Whisper's decoder): a table with a row a position;
//! - sinusoidal (Marian, Whisper's encoder): sin and cos of p at geometric frequencies, the
//!   sines in the first half of the row and the cosines in the second;
//! - grid (ViT, DINOv2): a learned row a patch of the picture, the trained grid resized to the
//!   picture's.
//!
//! The tables travel as their first rows (`shown` of them) and their cosine similarity.

use serde::{Deserialize, Serialize};

/// Every position set of a model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Positions {
    pub model: String,
    pub sets: Vec<PositionSet>,
}

/// One way of telling position, and where the model uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionSet {
    /// What the set is of: "every layer", "global layers", "windowed layers", "encoder",
    /// "decoder", "patches".
    pub name: String,
    /// The layers that use it (a rotary set); empty for a table added to the input.
    #[serde(default)]
    pub layers: Vec<usize>,
    pub kind: PositionKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionKind {
    /// Pairs of each head's dimensions turning at their own frequencies.
    Rotary {
        base: f32,
        head_dim: usize,
        /// How many leading dimensions of a head turn (all but in GPT-NeoX's and Phi's).
        rotated: usize,
        /// Adjacent pairs (x₀, x₁), … (a GGUF Llama's) instead of halves (x_i, x_{i+r/2}).
        interleaved: bool,
        /// θ_i for each pair, radians per position, [rotated / 2].
        inv_freq: Vec<f32>,
        /// The longest text the model was trained for.
        context: usize,
    },
    /// A table of a row a position (its first `shown` rows sent), read at row p + `offset`.
    Learned { rows: usize, width: usize, offset: usize, table: Table },
    /// Computed, not stored: sin(p·ω_k) for k < width/2 then cos(p·ω_k), ω_k = 10000^(−k / (width/2 − 1)).
    Sinusoidal { width: usize, table: Table },
    /// A learned row a patch on a `rows` × `columns` grid, after `leading` rows that are no
    /// patch (the class token), resized from the trained `trained` × `trained` grid.
    Grid { leading: usize, rows: usize, columns: usize, trained: usize, width: usize, table: Table },
}

/// A table's first rows, and the cosine similarity of every pair of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// How many rows are here (of the table's `rows`), each `width` long.
    pub shown: usize,
    pub width: usize,
    /// [shown, width], row by row.
    pub values: Vec<f32>,
    /// [shown, shown]: the cosine of the angle between rows i and j.
    pub similarity: Vec<f32>,
}

impl Table {
    /// The first `most` rows of `values` ([rows, width]) and their similarity.
    pub fn of(values: &[f32], width: usize, most: usize) -> Self {
        let shown = (values.len() / width.max(1)).min(most);
        let values = values[..shown * width].to_vec();
        let row = |i: usize| &values[i * width..(i + 1) * width];
        let norms: Vec<f64> = (0..shown).map(|i| row(i).iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()).collect();
        let mut similarity = vec![0.0f32; shown * shown];
        for i in 0..shown {
            for j in 0..shown {
                let dot: f64 = row(i).iter().zip(row(j)).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                similarity[i * shown + j] = (dot / (norms[i] * norms[j]).max(1e-30)) as f32;
            }
        }
        Self { shown, width, values, similarity }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// Marian's and Whisper's sinusoids for positions `start..start + count`, computed in float64
/// and kept as float32, [count, width]: row p is [sin(p·ω_0) … sin(p·ω_{h−1}), cos(p·ω_0) …
/// cos(p·ω_{h−1})], h = width / 2, ω_k = exp(−k · ln 10⁴ / (h − 1)). The engine's Marian
/// adds these very rows.
pub fn sinusoids(start: usize, count: usize, width: usize) -> Vec<f32> {
    let half = width / 2;
    let step = -(10_000f64.ln()) / (half as f64 - 1.0).max(1.0);
    let mut table = Vec::with_capacity(count * width);
    for p in start..start + count {
        let angles = (0..half).map(|k| p as f64 * (k as f64 * step).exp());
        table.extend(angles.clone().map(|a| a.sin() as f32));
        table.extend(angles.map(|a| a.cos() as f32));
    }
    table
}

/// The rotary angle of pair i at position p, mod 2π, as the engine turns it (p · θ_i in float32).
pub fn rotary_angle(inv_freq: &[f32], p: usize, i: usize) -> f32 {
    (p as f32 * inv_freq[i]).rem_euclid(std::f32::consts::TAU)
}

impl PositionSet {
    /// The set in a sentence: what it is, and the numbers that say how it behaves (the
    /// command line's summary, the page's heading).
    pub fn describe(&self) -> String {
        let set = self;
        let layers = |layers: &[usize]| if layers.is_empty() { String::new() } else { format!(" on layers {}", spans(layers)) };
        match &set.kind {
            PositionKind::Rotary { base, head_dim, rotated, interleaved, inv_freq, context } => {
                let pairs = inv_freq.len();
                let slowest = inv_freq.last().map_or(0.0, |f| std::f32::consts::TAU / f);
                format!(
                    "{} — rotary, base {base}, {rotated} of {head_dim} dimensions a head turn in {pairs} {} pairs{}; \
                     θ from {:.3e} to {:.3e} rad a token (wavelengths {:.1} to {slowest:.0} tokens; context {context}); \
                     at position 1, pair 1 has turned {:.4} rad",
                    set.name,
                    if *interleaved { "adjacent" } else { "half-apart" },
                    layers(&set.layers),
                    inv_freq.first().copied().unwrap_or(0.0),
                    inv_freq.last().copied().unwrap_or(0.0),
                    std::f32::consts::TAU / inv_freq.first().copied().unwrap_or(1.0),
                    if pairs > 1 { rotary_angle(inv_freq, 1, 1) } else { 0.0 },
                )
            }
            PositionKind::Learned { rows, width, offset, table } => {
                let start = if *offset > 0 { format!(", position p reads row p + {offset}") } else { String::new() };
                format!("{} — learned, {rows} positions × {width}{start}; {}", set.name, neighbours(table))
            }
            PositionKind::Sinusoidal { width, table } => format!("{} — sinusoidal, {width} wide (sin then cos), computed; {}", set.name, neighbours(table)),
            PositionKind::Grid { leading, rows, columns, trained, width, table } => format!(
                "{} — a learned grid, {trained} × {trained} as trained, resized to {rows} × {columns} patches (after {leading} leading row{}), {width} wide; {}",
                set.name,
                if *leading == 1 { "" } else { "s" },
                grid_neighbours(table, *leading, *columns)
            ),
        }
    }
}

/// Layers as runs: 0-4, 6-10.
fn spans(layers: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &l in layers {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => runs.push((l, l)),
        }
    }
    runs.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(", ")
}

/// How alike position 10 is to its neighbours and to a far one.
fn neighbours(table: &Table) -> String {
    let s = |i: usize, j: usize| table.similarity[i * table.shown + j];
    if table.shown <= 60 {
        return format!("{} rows compared", table.shown);
    }
    format!("cosine of row 10 with 9: {:.3}, 11: {:.3}, 50: {:.3} ({} rows compared)", s(10, 9), s(10, 11), s(10, 50), table.shown)
}

/// How alike a middle patch is to its right neighbour, one four to the right, and the corner.
fn grid_neighbours(table: &Table, leading: usize, columns: usize) -> String {
    let middle = leading + (columns / 2) * columns + columns / 2;
    if middle + 4 >= table.shown {
        return String::new();
    }
    let s = |j: usize| table.similarity[middle * table.shown + j];
    let (r, c) = (columns / 2, columns / 2);
    format!("cosine of patch ({r}, {c}) with ({r}, {}): {:.3}, ({r}, {}): {:.3}, (0, 0): {:.3}", c + 1, s(middle + 1), c + 4, s(middle + 4), s(leading))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_by_hand() {
        // width 4: h = 2, ω = [1, 10⁻⁴]; row 1: sin 1, sin 10⁻⁴, cos 1, cos 10⁻⁴.
        let table = sinusoids(0, 2, 4);
        assert_eq!(sinusoids(1, 1, 4), table[4..].to_vec());
        assert_eq!(&table[..4], &[0.0, 0.0, 1.0, 1.0]);
        let want = [1f64.sin(), 1e-4f64.sin(), 1f64.cos(), 1e-4f64.cos()];
        for (got, want) in table[4..].iter().zip(want) {
            assert!((f64::from(*got) - want).abs() < 1e-7, "{got} against {want}");
        }
    }

    #[test]
    fn a_tables_similarity_is_its_rows_cosines() {
        let table = Table::of(&[1.0, 0.0, 1.0, 1.0, 0.0, 2.0, 5.0, 5.0], 2, 3);
        assert_eq!(table.shown, 3);
        let s = |i: usize, j: usize| table.similarity[i * 3 + j];
        assert!((s(0, 0) - 1.0).abs() < 1e-6 && (s(0, 1) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && s(0, 2).abs() < 1e-6);
        assert_eq!(table.row(2), &[0.0, 2.0]);
    }
}
