//! The benchmark's arithmetic and its table (the `bench` binary measures).

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// One line of the table: what was measured, our median, the anchor's medians beside
/// it (wllama with 1 and 2 threads in the browser; transformers on torch natively), and
/// the target with whether it was met.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub what: String,
    pub ours: f64,
    pub unit: &'static str,
    pub anchors: Vec<f64>,
    pub target: Option<String>,
    pub met: Option<bool>,
}

impl Row {
    /// A time in milliseconds.
    pub fn new(what: String, ours: f64) -> Self {
        Self { what, ours, unit: "ms", anchors: Vec::new(), target: None, met: None }
    }

    /// A size in megabytes.
    pub fn memory(what: String, megabytes: f64) -> Self {
        Self { unit: "MB", ..Self::new(what, megabytes) }
    }

    pub fn anchors(mut self, anchors: &[f64]) -> Self {
        self.anchors = anchors.to_vec();
        self
    }

    pub fn target(mut self, target: Option<String>, met: Option<bool>) -> Self {
        self.target = target;
        self.met = met;
        self
    }
}

fn amount(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// The rows as a markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| measure | attnscope (1 thread unless the row says 2) | anchor: wllama 1 thread; natively torch; a translation the package's engine; the page on 1 thread (2-thread rows) | wllama, 2 threads | target | met |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let anchor = |i: usize| row.anchors.get(i).map_or(String::new(), |&a| amount(a, row.unit));
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.what,
            amount(row.ours, row.unit),
            anchor(0),
            anchor(1),
            row.target.as_deref().unwrap_or(""),
            met
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_table_puts_ours_beside_the_anchor() {
        let rows = [
            Row::new("21 tokens".into(), 312.4).anchors(&[1400.0, 684.0]).target(Some("≤ 700 ms".into()), Some(true)),
            Row::memory("memory".into(), 612.0).target(Some("< 600 MB".into()), Some(false)),
        ];
        let table = markdown(&rows);
        assert!(table.contains("| 21 tokens | 312 ms | 1400 ms | 684 ms | ≤ 700 ms | yes |"), "{table}");
        assert!(table.contains("| memory | 612 MB |  |  | < 600 MB | **no** |"), "{table}");
    }
}
