//! One file per view.

pub mod alignment;
pub mod axis_labels;
mod compare;
mod controls;
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
pub use focus_bands::FocusBands;
pub use head_detail::HeadDetail;
pub use head_grid::HeadGrid;
pub use heatmap::Heatmap;
pub use lines::LinesView;
pub use math::MathView;
pub use next_tokens::NextTokens;
pub use probe::ProbePanel;
pub use prompt::PromptInput;
pub use rollout::RolloutView;
pub use scores::ScoresPanel;
pub use status::StatusLine;
pub use token_strip::TokenStrip;
pub use translation::TranslationPanel;
pub use weights_table::WeightsTable;

/// A token's text as an axis or table label: white space made visible, long ones cut.
pub fn token_label(text: &str) -> String {
    let shown: String = text.replace('\n', "↵").replace('\t', "⇥");
    let shown = shown.trim();
    let shown = if shown.is_empty() { "␣" } else { shown };
    if shown.chars().count() > 14 {
        format!("{}…", shown.chars().take(13).collect::<String>())
    } else {
        shown.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::token_label;

    #[test]
    fn labels_show_white_space_and_stay_short() {
        assert_eq!(token_label(" cat"), "cat");
        assert_eq!(token_label(" "), "␣");
        assert_eq!(token_label("\n"), "↵");
        assert_eq!(token_label("internationalisation"), "international…");
    }
}
