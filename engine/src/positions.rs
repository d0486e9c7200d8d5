//! Where each model tells a token where it stands (issue 32): every family's position sets as
//! the engine holds them (see `report::positions`), gathered from the architectures that own
//! them, for the command line (`attnscope positions`) and the page's Positions view.

use candle_core::{DType, Tensor};

use crate::any_model::AnyModel;
use crate::error::Result;
use crate::report::positions::{PositionKind, PositionSet, Positions, Table};

/// How many of a table's rows travel (and are compared with each other) by default: enough
/// for a sinusoid's slow channels to turn and a learned table's neighbours to show.
pub const SHOWN_ROWS: usize = 128;

/// A learned table [rows, width] read at row p + `offset`, its first `shown` rows (from the
/// offset on: the rows a position reads).
pub fn learned(name: &str, table: &Tensor, offset: usize, shown: usize) -> candle_core::Result<PositionSet> {
    let (rows, width) = table.dims2()?;
    let kept = shown.min(rows.saturating_sub(offset));
    let values: Vec<f32> = table.narrow(0, offset.min(rows), kept)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let kind = PositionKind::Learned { rows: rows - offset.min(rows), width, offset, table: Table::of(&values, width, kept) };
    Ok(PositionSet { name: name.into(), layers: Vec::new(), kind })
}

impl AnyModel {
    /// Every position set of the model, each table's first `shown` rows.
    pub fn positions(&self, shown: usize) -> Result<Positions> {
        let sets = match self {
            AnyModel::OneSequence(model) => model.network_positions(shown),
            AnyModel::Translator(translator) => translator.position_sets(shown),
            AnyModel::Transcriber(transcriber) => transcriber.position_sets(shown)?,
            AnyModel::Vision(vision) => vision.position_sets(shown)?,
            // Recurrence tells an RNN where it is; a memory network's temporal rows and a
            // SNAIL's steps are not position tables of a Transformer.
            AnyModel::Aligner(_) | AnyModel::FewShot(_) => Vec::new(),
        };
        Ok(Positions { model: self.info().name, sets })
    }
}
