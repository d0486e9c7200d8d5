//! Reading exported figures back: an SVG's rectangles and texts, a PNG's pixels, and the
//! heatmap's cells found in them by where they sit, to be checked against the engine.

/// A map [queries, keys] without its first key, each row renormalised over the rest (a
/// row with nothing left all zeros), computed here by hand to judge the engine's reading.
pub fn without_first_key_by_hand(map: &[f32], keys: usize) -> Vec<f32> {
    map.chunks(keys)
        .flat_map(|row| {
            let rest: f32 = row[1..].iter().sum();
            row[1..].iter().map(move |w| if rest > 0.0 { w / rest } else { 0.0 }).collect::<Vec<_>>()
        })
        .collect()
}

/// A filled rectangle of an SVG.
#[derive(Clone, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// `#RRGGBB`, upper case.
    pub fill: String,
}

/// A text of an SVG, with whether it is turned (the key labels read upwards).
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
    pub rotated: bool,
}

/// What an SVG document draws.
pub struct Svg {
    pub width: f64,
    pub height: f64,
    pub rects: Vec<Rect>,
    pub labels: Vec<Label>,
}

/// Parses an SVG as XML; panics with the parser's message when it is not well formed.
pub fn parse_svg(text: &str) -> Svg {
    let document = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("the SVG is not well-formed XML: {e}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let number = |node: roxmltree::Node, name: &str| node.attribute(name).and_then(|v| v.trim_end_matches("px").parse::<f64>().ok()).unwrap_or(0.0);
    let rects = document
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_some_and(|f| f != "none"))
        .map(|n| Rect {
            x: number(n, "x"),
            y: number(n, "y"),
            width: number(n, "width"),
            height: number(n, "height"),
            fill: n.attribute("fill").unwrap().to_uppercase(),
        })
        .collect();
    let labels = document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| Label {
            x: number(n, "x"),
            y: number(n, "y"),
            text: n.text().unwrap_or_default().trim().to_string(),
            rotated: n.attribute("transform").is_some_and(|t| t.contains("rotate")),
        })
        .collect();
    Svg { width: number(root, "width"), height: number(root, "height"), rects, labels }
}

/// `#RRGGBB` of a colour.
pub fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// The heatmap's cells: the rectangles inside the grid's square (left, top, side), row
/// by row. The background and the legend lie outside it.
pub fn grid_cells(svg: &Svg, (left, top, side): (f64, f64, f64)) -> Vec<Rect> {
    let mut cells: Vec<Rect> =
        svg.rects.iter().filter(|r| r.x >= left - 0.5 && r.y >= top - 0.5 && r.x < left + side && r.y < top + side && r.width < side).cloned().collect();
    cells.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    cells
}

/// A decoded PNG: (width, height, RGB or RGBA bytes, channels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>, usize) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("the PNG's pixels");
    let channels = info.color_type.samples();
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels, channels)
}

/// The colour of pixel (x, y) of a decoded PNG.
pub fn pixel((width, _, pixels, channels): &(u32, u32, Vec<u8>, usize), x: usize, y: usize) -> (u8, u8, u8) {
    let at = (y * *width as usize + x) * channels;
    (pixels[at], pixels[at + 1], pixels[at + 2])
}
