//! `attnscope positions --model NAME_OR_PATH [--rows N] [--json]`: where the model tells each
//! token where it stands, as the engine holds it (report::positions).

use engine::report::positions::Positions;
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
        out.push_str(&format!("{}: {}\n", positions.model, set.describe()));
    }
    out
}
