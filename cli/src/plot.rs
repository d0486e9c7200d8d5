//! `attnscope plot`: one head's heatmap, or the grid of every head, as an SVG or a PNG,
//! drawn by the same figure code as the page.

use std::path::PathBuf;

use engine::analysis::patches::{PatchMap, PatchSource};
use engine::analysis::reading::Reading;
use engine::analysis::shown::{ShownMap, Weighting};
use engine::figure::picture::PictureFigure;
use engine::figure::{self, reading_note, ColourScale, Figure, GridFigure, HeatmapFigure, LinesFigure, Thumbnail, ValueScale};
use engine::{AttentionReport, Framing, Mask, RunOptions, WeightChoice};

use crate::flags::PlotFlags;
use crate::{load_any, usage, Failure};

/// What `plot` draws.
enum Picture {
    Heatmap(usize, usize),
    Lines(usize, usize),
    Overlay(usize, Vec<usize>),
    Grid,
    /// A query's attention over a picture.
    OverImage(usize, PatchSource, usize),
}

/// The parsed `plot` command.
pub struct PlotArgs {
    model: String,
    input: Input,
    picture: Picture,
    site: Option<String>,
    mask: Option<Mask>,
    weights: WeightChoice,
    reading: Reading,
    value_scale: ValueScale,
    colours: ColourScale,
    weighting: Weighting,
    zoom: u32,
    out: PathBuf,
}

/// The `plot` command's flags, as they go together.
pub fn parse(flags: PlotFlags) -> Result<PlotArgs, Failure> {
    let PlotFlags {
        model,
        text,
        image,
        framing,
        query,
        mean,
        rollout,
        layer,
        head,
        grid,
        lines,
        heads,
        site,
        mask,
        weights,
        hide_sink,
        words,
        scale,
        colours,
        value_norms,
        zoom,
        out,
    } = flags;
    let heads = heads.map(|h| h.0);
    let weights = weights.unwrap_or(WeightChoice::Float32);
    let reading = Reading { hide_first_key: hide_sink, by_words: words };
    let (value_scale, colours, zoom) = (scale.unwrap_or(ValueScale::Linear), colours.unwrap_or(ColourScale::Viridis), zoom.unwrap_or(1));
    let weighting = if value_norms { Weighting::ValueNorms } else { Weighting::Attention };
    if grid && (layer.is_some() || head.is_some() || heads.is_some() || lines) {
        return Err(usage("give --layer and --head, or --grid, not both".into()));
    }
    if heads.is_some() && (head.is_some() || lines) {
        return Err(usage("give --head (one head, as a heatmap or --lines) or --heads (several, overlaid), not both".into()));
    }
    let head_given = head.is_some();
    let (layer, head) = (layer.unwrap_or(0), head.unwrap_or(0));
    let over_picture = image.is_some() && !grid;
    if !over_picture && (query.is_some() || mean || rollout || framing.is_some()) {
        return Err(usage("--query, --mean, --rollout and --framing are for --image".into()));
    }
    if over_picture && (heads.is_some() || lines || (mean && rollout) || (head_given && (mean || rollout))) {
        return Err(usage("over a picture, give --head, --mean or --rollout (one of them)".into()));
    }
    let source = if mean {
        PatchSource::LayerMean
    } else if rollout {
        PatchSource::Rollout
    } else {
        PatchSource::Head(head)
    };
    let picture = match (grid, heads, lines) {
        _ if over_picture => Picture::OverImage(layer, source, query.unwrap_or(0)),
        (true, _, _) => Picture::Grid,
        (_, Some(heads), _) => Picture::Overlay(layer, heads),
        (_, None, true) => Picture::Lines(layer, head),
        (_, None, false) => Picture::Heatmap(layer, head),
    };
    let out = out.ok_or_else(|| usage("--out FILE.svg or FILE.png is required".into()))?;
    let is_picture = |ext: &str| out.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if !is_picture("svg") && !is_picture("png") {
        return Err(usage(format!("--out {} must end in .svg or .png", out.display())));
    }
    let input = match (text, image) {
        (Some(text), None) => Input::Text(text),
        (None, Some(image)) => Input::Image(image, framing.unwrap_or_default()),
        (None, None) => return Err(usage("--text (or --image, for a vision model) is required".into())),
        (Some(_), Some(_)) => return Err(usage("give --text or --image, not both".into())),
    };
    Ok(PlotArgs {
        model: model.ok_or_else(|| usage("--model is required".into()))?,
        input,
        picture,
        site,
        mask,
        weights,
        reading,
        value_scale,
        colours,
        weighting,
        zoom,
        out,
    })
}

/// What a plot runs: a text, or a picture (decoded) and how it is framed.
enum Input {
    Text(String),
    Image(PathBuf, Framing),
}

fn report_of(args: &PlotArgs, picture: Option<&engine::image::Rgb>) -> Result<AttentionReport, Failure> {
    let model = load_any(&args.model, args.weights)?;
    match (&model, &args.input, picture) {
        (engine::AnyModel::Vision(vision), Input::Image(_, framing), Some(picture)) => return Ok(vision.look(picture, *framing)?),
        (engine::AnyModel::Vision(_), _, _) => return Err(usage(format!("`{}` is a vision model: give it --image FILE", args.model))),
        (_, Input::Image(..), _) => return Err(usage(format!("`{}` reads text: --image is for a vision model (dinov2-small)", args.model))),
        _ => {}
    }
    let Input::Text(text) = &args.input else { unreachable!("a text model's input is text, checked above") };
    let is_translator = matches!(model, engine::AnyModel::Translator(_));
    if is_translator && (args.mask.is_some() || args.weighting == Weighting::ValueNorms) {
        return Err(usage("a translator runs with its own masks and has no --value-norms".into()));
    }
    let mask = args.mask.unwrap_or_else(|| model.native_mask());
    let options = RunOptions { value_norms: args.weighting == Weighting::ValueNorms, ..RunOptions::default() };
    Ok(model.run_text(text, mask, options, |_, _, _| {})?)
}

/// Draws the figure and writes it.
pub fn run(args: PlotArgs) -> Result<(), Failure> {
    let picture = match &args.input {
        Input::Image(path, _) => Some(crate::input::read_image(path)?),
        Input::Text(_) => None,
    };
    let report = report_of(&args, picture.as_ref())?;
    let text = match &args.input {
        Input::Text(text) => text.as_str(),
        Input::Image(..) => "",
    };
    let names: Vec<&str> = report.sites.iter().map(|s| s.name.as_str()).collect();
    let site = match &args.site {
        None => 0,
        Some(name) => names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Failure::Input(format!("this model has no site `{name}`: its sites are {}", names.join(", "))))?,
    };
    let maps = &report.sites[site].maps;
    let (layers, heads) = (maps.layers(), maps.heads());
    let shown = |layer: usize, head: usize| {
        ShownMap::of_site(&report, site, layer, head, args.weighting, args.reading, text)
            .ok_or_else(|| Failure::Input(format!("no layer {layer}, head {head}: the model has layers 0–{} and heads 0–{}", layers - 1, heads - 1)))
    };
    // The site is named when there is a choice (a translator's encoder or cross-attention).
    let site_name = (names.len() > 1).then_some(names[site]);
    let weighting = if report.value_norms.is_some() { args.weighting } else { Weighting::Attention };
    let title = |place: &str| figure::title(&report.model.name, place, site_name, weighting.title());
    let note = reading_note(args.reading, args.value_scale);
    let (value_scale, colours) = (args.value_scale, args.colours);
    let is_png = args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if let (&Picture::OverImage(layer, source, query), Some(picture)) = (&args.picture, &picture) {
        let map = PatchMap::of(&report, layer, source, query).ok_or_else(|| {
            Failure::Input(format!(
                "no layer {layer}, {} or query {query}: the model has layers 0–{}, heads 0–{} and items 0–{}",
                source.name(),
                layers - 1,
                heads - 1,
                maps.queries() - 1
            ))
        })?;
        let placement = report.picture.ok_or_else(|| Failure::Internal("the vision report says nothing of its picture".into()))?;
        let query_name = report.tokens().get(query).map_or(String::new(), |t| t.text.clone());
        let place = match source {
            PatchSource::Rollout => format!("rollout from {query_name}"),
            _ => format!("layer {layer}, {} · from {query_name}", source.name()),
        };
        let figure = PictureFigure { map: &map, placement, picture, value_scale: args.value_scale, colours: args.colours, title: Some(title(&place)) };
        let side = 448 * args.zoom as usize;
        let bytes = if is_png { figure.png(side) } else { figure.svg(448).map(String::into_bytes) };
        return std::fs::write(&args.out, bytes.map_err(Failure::Internal)?).map_err(|e| Failure::Input(format!("cannot write {}: {e}", args.out.display())));
    }
    let figure = match &args.picture {
        Picture::OverImage(..) => unreachable!("drawn above: a picture comes with --image"),
        &Picture::Heatmap(layer, head) => Figure::Heatmap(HeatmapFigure {
            title: Some(title(&format!("layer {layer}, head {head}"))),
            note,
            ..HeatmapFigure::of(&shown(layer, head)?, value_scale, colours)
        }),
        &Picture::Lines(layer, head) => {
            let map = shown(layer, head)?;
            Figure::Lines(LinesFigure {
                left: map.read.rows.labels.clone(),
                right: map.read.columns.labels.clone(),
                weights: map.values().iter().map(|v| v / map.top).collect(),
                title: Some(title(&format!("layer {layer}, head {head}"))),
                note,
            })
        }
        Picture::Overlay(layer, heads) => {
            let maps = heads.iter().map(|&h| shown(*layer, h).map(|m| (h, m))).collect::<Result<Vec<_>, _>>()?;
            let names = heads.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ");
            let overlaid = HeatmapFigure::overlaid(*layer, &maps, value_scale, colours).ok_or_else(|| usage("--heads names no head".into()))?;
            Figure::Heatmap(HeatmapFigure { title: Some(title(&format!("layer {layer}, heads {names}"))), note, ..overlaid })
        }
        Picture::Grid => Figure::Grid(
            GridFigure {
                heads: (0..layers).map(|l| (0..heads).map(|h| shown(l, h).map(|m| Thumbnail::of(&m))).collect()).collect::<Result<_, _>>()?,
                value_scale,
                colours,
                selected: None,
                title: Some(title("every head")),
                note,
            }
            .fitted(),
        ),
    };
    let bytes = if is_png { figure.png(args.zoom) } else { figure.svg().map(String::into_bytes) };
    let bytes = bytes.map_err(Failure::Internal)?;
    std::fs::write(&args.out, bytes).map_err(|e| Failure::Input(format!("cannot write {}: {e}", args.out.display())))
}
