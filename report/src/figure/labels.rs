//! Text around a map: token labels, how densely they can be drawn, and legend ticks.
//! The page and the exported figures read the same labels from here.

/// The smallest label font: below it, labels are thinned instead.
pub const MIN_FONT_PX: f64 = 9.0;
/// The largest label font, for maps with few, large cells.
pub const MAX_FONT_PX: f64 = 13.0;

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

/// For cells `cell` pixels tall: the label font size, and which labels to draw (every
/// `n`th), so that neighbouring labels never overlap.
pub fn label_stride(cell: f64) -> (f64, usize) {
    let font_px = (cell * 0.8).clamp(MIN_FONT_PX, MAX_FONT_PX);
    let every = ((font_px + 2.0) / cell.max(f64::MIN_POSITIVE)).ceil().max(1.0) as usize;
    (font_px, every)
}

/// A legend value, short: 1, 0.5, 0, or three significant digits (12.3, 0.417, 0.001).
pub fn tick(value: f32) -> String {
    let text = if value == 0.0 || value >= 100.0 {
        format!("{value:.0}")
    } else {
        let decimals = (2 - value.abs().log10().floor() as i32).clamp(0, 5) as usize;
        format!("{value:.decimals$}")
    };
    // 1.00 -> 1, 0.500 -> 0.5
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_show_white_space_and_stay_short() {
        assert_eq!(token_label(" cat"), "cat");
        assert_eq!(token_label(" "), "␣");
        assert_eq!(token_label("\n"), "↵");
        assert_eq!(token_label("internationalisation"), "international…");
    }

    #[test]
    fn legend_ticks_are_short() {
        let ticks: Vec<String> = [1.0, 0.5, 0.0, 12.345, 0.41666, 250.2, 3.0, 0.001, 0.01].into_iter().map(tick).collect();
        assert_eq!(ticks, ["1", "0.5", "0", "12.3", "0.417", "250", "3", "0.001", "0.01"]);
    }

    #[test]
    fn labels_are_thinned_not_shrunk() {
        // Few tokens: every label, at a comfortable size.
        assert_eq!(label_stride(75.0), (13.0, 1));
        // 100 tokens on 450 pixels: 9-pixel labels every third token, never overlapping.
        let cell = 4.5;
        let (font, every) = label_stride(cell);
        assert_eq!((font, every), (9.0, 3));
        assert!(every as f64 * cell >= font + 2.0);
        // 128 tokens on a 180-pixel map: every eighth.
        assert_eq!(label_stride(180.0 / 128.0).1, 8);
    }
}
