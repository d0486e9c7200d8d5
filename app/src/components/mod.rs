//! One file per view.

pub mod alignment;
pub mod axis_labels;
mod compare;
mod controls;
pub mod export;
mod focus_bands;
mod head_detail;
pub mod head_grid;
mod heatmap;
mod lines;
mod math;
mod next_tokens;
pub mod open_model;
mod probe;
mod prompt;
mod reading;
mod rollout;
mod scores;
mod status;
mod token_strip;
pub mod translation;
mod weights_table;

pub use alignment::AlignmentView;
pub use axis_labels::LabelledMap;
pub use compare::CompareView;
pub use controls::Controls;
pub use export::{ExportMenu, Subject};
pub use focus_bands::FocusBands;
pub use head_detail::HeadDetail;
pub use head_grid::HeadGrid;
pub use heatmap::Heatmap;
pub use lines::LinesView;
pub use math::MathView;
pub use next_tokens::NextTokens;
pub use probe::ProbePanel;
pub use prompt::PromptInput;
pub use reading::{ReadingBar, ReadingNote};
pub use rollout::RolloutView;
pub use scores::ScoresPanel;
pub use status::StatusLine;
pub use token_strip::TokenStrip;
pub use translation::TranslationPanel;
pub use weights_table::WeightsTable;

pub use engine::figure::labels::token_label;
