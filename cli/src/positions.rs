//! `attnscope positions --model NAME_OR_PATH [--rows N] [--json]`: where the model tells each
//! token where it stands, as the engine holds it (report::positions).

use engine::report::positions::{rotary_angle, PositionKind, PositionSet, Positions, Table};
use engine::WeightChoice;

use crate::flags::PositionsFlags;
use crate::{load_any, usage, Failure};

pub fn run(flags: PositionsFlags) -> Result<String, Failure> {
    let model = flags.model.ok_or_else(|| usage("--model is required".into()))?;
    let loaded = load_any(&model, WeightChoice::Float32)?;
    let positions = loaded.positions(flags.rows.unwrap_or(engine::positions::SHOWN_ROWS))?;
    if flags.json {
        return Ok(serde_json::to_string(&positions).map_err(|e| Failure::Internal(e.to_string()))? + "\n");
    }
    Ok(summary(&positions))
}

/// A few lines a set: what it is, and the numbers that say how it behaves.
fn summary(positions: &Positions) -> String {
    if positions.sets.is_empty() {
        return format!("{}: no positions (recurrence, or an episode's steps, tell it where it is)\n", positions.model);
    }
    let mut out = String::new();
    for set in &positions.sets {
        out.push_str(&format!("{}: {}\n", positions.model, describe(set)));
    }
    out
}

fn describe(set: &PositionSet) -> String {
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
