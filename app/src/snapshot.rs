//! A run as one self-contained HTML file that opens offline from `file://`: the text, its
//! tokens and every head's map of every attention site (self-attention; a translation's
//! encoder and cross-attention), read as the page reads them, with a small viewer (the grid of heads, the heatmap, the table and the lines) in
//! plain JavaScript. Nothing in it is fetched: the styles, the script and the maps are in
//! the file. The maps are stored as float32 while the file stays under
//! [`BUDGET_BYTES`]; past that they are quantized over [0, 1] to 16 bits (steps of
//! 1.5e-5), then to 8, and the file says so.

use report::analysis::shown::ShownMap;
use report::figure::{base64, token_label, ColourScale};
use serde::Serialize;

/// The most a snapshot's maps may take, base64 included.
pub const BUDGET_BYTES: usize = 5_000_000;

const VIEWER_JS: &str = include_str!("../snapshot/viewer.js");
const VIEWER_CSS: &str = include_str!("../snapshot/viewer.css");

/// How the maps are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    F32,
    U16,
    U8,
}

impl Encoding {
    fn bytes_per_weight(self) -> usize {
        match self {
            Encoding::F32 => 4,
            Encoding::U16 => 2,
            Encoding::U8 => 1,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Encoding::F32 => "maps stored as float32, as computed",
            Encoding::U16 => "maps quantized to 16 bits over [0, 1] to fit the file (steps of 1.5e-5)",
            Encoding::U8 => "maps quantized to 8 bits over [0, 1] to fit the file (steps of 0.004)",
        }
    }

    /// The finest encoding whose maps of `weights` values fit the budget.
    pub fn fitting(weights: usize) -> Self {
        [Encoding::F32, Encoding::U16].into_iter().find(|e| (weights * e.bytes_per_weight()).div_ceil(3) * 4 <= BUDGET_BYTES).unwrap_or(Encoding::U8)
    }

    fn encode(self, values: impl Iterator<Item = f32>) -> Vec<u8> {
        let unit = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        match self {
            Encoding::F32 => values.flat_map(f32::to_le_bytes).collect(),
            Encoding::U16 => values.flat_map(|v| ((unit(v) * 65535.0).round() as u16).to_le_bytes()).collect(),
            Encoding::U8 => values.map(|v| (unit(v) * 255.0).round() as u8).collect(),
        }
    }
}

/// One site's maps as the viewer reads them.
#[derive(Serialize)]
struct SiteData {
    name: String,
    /// The rows' and columns' labels of every map (tokens, or words).
    rows: Vec<String>,
    columns: Vec<String>,
    /// [layers, heads, rows, columns].
    shape: [usize; 4],
    /// Base64 of the maps, [layer][head][row][column], little-endian, as `encoding` says.
    maps: String,
}

/// What the viewer reads.
#[derive(Serialize)]
struct Data<'a> {
    model: &'a str,
    facts: String,
    text: &'a str,
    tokens: Vec<String>,
    encoding: Encoding,
    sites: Vec<SiteData>,
    /// 256 colours, `#rrggbb`, of the colour scale from 0 to 1.
    palette: Vec<String>,
}

/// One site of a run: its name and every head's map, [layer][head], all read alike.
pub struct SiteMaps {
    pub name: String,
    pub maps: Vec<Vec<ShownMap>>,
}

/// The snapshot of a run of `model` on `text`, whose tokens are `tokens`: every site's
/// maps; `reading` says how they were read.
pub fn snapshot(model: &str, text: &str, tokens: &[String], sites: &[SiteMaps], reading: Option<&str>, colours: ColourScale) -> String {
    let weights: usize = sites.iter().flat_map(|s| s.maps.iter().flatten()).map(|m| m.values().len()).sum();
    let encoding = Encoding::fitting(weights);
    let labels = |axis: &[String]| axis.iter().map(|l| token_label(l)).collect::<Vec<_>>();
    let site_data = sites
        .iter()
        .map(|site| {
            let (layers, heads) = (site.maps.len(), site.maps.first().map_or(0, Vec::len));
            let first = site.maps.first().and_then(|l| l.first());
            let (rows, columns) = first.map_or((0, 0), |m| (m.rows(), m.columns()));
            SiteData {
                name: site.name.clone(),
                rows: first.map(|m| labels(&m.read.rows.labels)).unwrap_or_default(),
                columns: first.map(|m| labels(&m.read.columns.labels)).unwrap_or_default(),
                shape: [layers, heads, rows, columns],
                maps: base64(&encoding.encode(site.maps.iter().flatten().flat_map(|m| m.values().iter().copied()))),
            }
        })
        .collect::<Vec<_>>();
    let shapes: Vec<String> = site_data.iter().map(|s| format!("{} ({} layers × {} heads)", s.name, s.shape[0], s.shape[1])).collect();
    let mut facts = format!("{}; {} tokens; attention α; {}", shapes.join(", "), tokens.len(), encoding.describe());
    if let Some(reading) = reading {
        facts.push_str(&format!(". {reading}"));
    }
    let data = Data {
        model,
        facts,
        text,
        tokens: labels(tokens),
        encoding,
        sites: site_data,
        palette: (0..256)
            .map(|i| {
                let (r, g, b) = colours.colour(i as f32 / 255.0);
                format!("#{r:02x}{g:02x}{b:02x}")
            })
            .collect(),
    };
    // Inside <script>, "</" would end it early.
    let json = serde_json::to_string(&data).unwrap_or_default().replace("</", "<\\/");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>attnscope · {title}</title>\n<style>\n{VIEWER_CSS}</style>\n</head>\n<body>\n\
         <h1 id=\"title\"></h1>\n<p class=\"muted\" id=\"facts\"></p>\n<p id=\"text\"></p>\n<p class=\"tokens\" id=\"tokens\"></p>\n\
         <label id=\"site-picker\" hidden>Attention <select id=\"site\" data-testid=\"snapshot-site\"></select></label>\n\
         <div class=\"columns\">\n<section><h2>Every head</h2><div class=\"grid\" id=\"grid\" data-testid=\"snapshot-grid\" aria-label=\"Heads by layer: click one, or use the arrow keys\"></div></section>\n\
         <section><h2 id=\"head\"></h2>\n<div class=\"tabs\" role=\"tablist\"><button id=\"tab-heatmap\" role=\"tab\">Heatmap</button><button id=\"tab-table\" role=\"tab\">Table</button><button id=\"tab-lines\" role=\"tab\">Lines</button></div>\n\
         <figure id=\"heatmap-panel\"><canvas id=\"heatmap\" data-testid=\"snapshot-heatmap\"></canvas><figcaption>Rows: queries. Columns: keys.</figcaption></figure>\n\
         <div id=\"table-panel\"><table id=\"table\" data-testid=\"snapshot-table\"></table></div>\n\
         <div id=\"lines-panel\" class=\"lines\" data-testid=\"snapshot-lines\"><div id=\"lines\"></div></div>\n</section>\n</div>\n\
         <p class=\"muted\">Saved from attnscope: the maps of one run, viewable offline. No model is in this file.</p>\n\
         <script type=\"application/json\" id=\"attnscope-data\">{json}</script>\n<script>\n{VIEWER_JS}</script>\n</body>\n</html>\n",
        title = escape_html(model),
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_stay_float32_until_they_would_pass_the_budget() {
        // SmolLM2 on 21 tokens: 270 heads × 441 weights, 635 KB of base64.
        assert_eq!(Encoding::fitting(270 * 21 * 21), Encoding::F32);
        // The page's 128 tokens: 17.7 MB as float32, 8.8 MB at 16 bits, 4.4 MB at 8 (5.9 MB
        // of base64: past the budget, the least there is).
        assert_eq!(Encoding::fitting(270 * 128 * 128), Encoding::U8);
        assert_eq!(Encoding::fitting(270 * 70 * 70), Encoding::U16);
        assert_eq!(Encoding::U16.encode([0.0, 1.0, 0.5].into_iter()), [0, 0, 255, 255, 0, 128]);
        assert_eq!(Encoding::U8.encode([2.0, f32::NAN].into_iter()), [255, 0]);
    }

    #[test]
    fn the_data_cannot_close_its_script_early() {
        let html = snapshot("m</script><b>", "a </script> b", &["a".into()], &[], None, ColourScale::Viridis);
        assert!(html.contains("\"sites\":[]"));
        assert_eq!(html.matches("</script>").count(), 2, "only the two scripts' own ends");
        assert!(html.contains("<title>attnscope · m&lt;/script&gt;&lt;b&gt;</title>"));
    }
}
