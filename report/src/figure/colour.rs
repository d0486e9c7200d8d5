//! Colours for weights in [0, 1]: viridis (the default: dark purple to yellow,
//! perceptually uniform and readable by colour-blind eyes), magma and greys; a
//! diverging scale for differences; and how a value becomes a place on the scale
//! (linearly, or by its logarithm, so the small weights show).

/// Viridis at nine evenly spaced points.
const VIRIDIS: [(u8, u8, u8); 9] =
    [(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)];

/// Magma at nine evenly spaced points: black through purple and orange to pale yellow.
const MAGMA: [(u8, u8, u8); 9] =
    [(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122), (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191)];

/// Greys: white (0) to black (1), for print.
const GREYS: [(u8, u8, u8); 2] = [(255, 255, 255), (0, 0, 0)];

/// `weight`, clamped to [0, 1], linearly between evenly spaced `points`.
fn interpolate(points: &[(u8, u8, u8)], weight: f32) -> (u8, u8, u8) {
    let x = if weight.is_finite() { weight.clamp(0.0, 1.0) } else { 0.0 } * (points.len() - 1) as f32;
    let i = (x.floor() as usize).min(points.len() - 2);
    let t = x - i as f32;
    let (a, b) = (points[i], points[i + 1]);
    let mix = |p: u8, q: u8| (p as f32 + (q as f32 - p as f32) * t).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The viridis colour of `weight`.
pub fn viridis(weight: f32) -> (u8, u8, u8) {
    interpolate(&VIRIDIS, weight)
}

/// The colour scales a person can choose for the maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourScale {
    Viridis,
    Magma,
    Greys,
    /// Blue below the middle, white at it, red above: for differences (not a choice of
    /// the picker; a figure of a difference takes it with [`ValueScale::Signed`]).
    Diverging,
}

impl ColourScale {
    pub const ALL: [ColourScale; 3] = [ColourScale::Viridis, ColourScale::Magma, ColourScale::Greys];

    pub fn name(self) -> &'static str {
        match self {
            ColourScale::Viridis => "viridis",
            ColourScale::Magma => "magma",
            ColourScale::Greys => "greys",
            ColourScale::Diverging => "diverging",
        }
    }

    /// The colour of a weight in [0, 1].
    pub fn colour(self, weight: f32) -> (u8, u8, u8) {
        match self {
            ColourScale::Viridis => interpolate(&VIRIDIS, weight),
            ColourScale::Magma => interpolate(&MAGMA, weight),
            ColourScale::Greys => interpolate(&GREYS, weight),
            ColourScale::Diverging => diverging(2.0 * weight - 1.0),
        }
    }
}

/// A hue per head for overlays (Tableau's ten): head `h` takes `HEAD_HUES[h % 10]`.
pub const HEAD_HUES: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// `hue` as strong as `fraction` in [0, 1]: white at 0, the hue itself at 1.
pub fn tint(hue: (u8, u8, u8), fraction: f32) -> (u8, u8, u8) {
    let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |c: u8| (255.0 - (255.0 - c as f32) * f).round() as u8;
    (mix(hue.0), mix(hue.1), mix(hue.2))
}

/// Several heads' maps as one ([rows, columns] each): every cell takes the hue of the
/// head that attends most there, as strong as that head's weight there (CircuitsVis's
/// multi-head view). `heads` pairs each map with its head's number, for its hue.
pub fn overlay(heads: &[(usize, &[f32])], value_scale: ValueScale, top: f32) -> Vec<(u8, u8, u8)> {
    let cells = heads.iter().map(|(_, m)| m.len()).min().unwrap_or(0);
    (0..cells)
        .map(|i| {
            let (head, value) = heads.iter().map(|(h, m)| (*h, m[i])).fold((0, f32::NEG_INFINITY), |best, c| if c.1 > best.1 { c } else { best });
            tint(HEAD_HUES[head % HEAD_HUES.len()], value_scale.fraction(value, top))
        })
        .collect()
}

/// How a value becomes a fraction of the colour scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueScale {
    /// value / top.
    #[default]
    Linear,
    /// log10(value / top), the lowest [`ValueScale::DECADES`] decades spread over the
    /// scale: a weight of 0.001 is as visible as one of 0.1 is linearly.
    Log,
    /// A difference from −top to top, 0 in the middle (not a choice of the picker).
    Signed,
}

impl ValueScale {
    pub const ALL: [ValueScale; 2] = [ValueScale::Linear, ValueScale::Log];
    /// How many decades below the top the logarithmic scale shows.
    pub const DECADES: f32 = 3.0;

    pub fn name(self) -> &'static str {
        match self {
            ValueScale::Linear => "linear",
            ValueScale::Log => "log",
            ValueScale::Signed => "signed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Where `value` sits on a scale from 0 to `top`, in [0, 1].
    pub fn fraction(self, value: f32, top: f32) -> f32 {
        let positive = value > 0.0 && top > 0.0;
        match self {
            ValueScale::Signed => {
                let d = if value.is_finite() && top > 0.0 { (value / top).clamp(-1.0, 1.0) } else { 0.0 };
                (d + 1.0) / 2.0
            }
            _ if !positive => 0.0,
            ValueScale::Linear => (value / top).min(1.0),
            ValueScale::Log => ((value / top).log10() / Self::DECADES + 1.0).clamp(0.0, 1.0),
        }
    }

    /// The legend's ticks for a scale topped by `top`: (value, fraction), bottom first.
    pub fn ticks(self, top: f32) -> Vec<(f32, f32)> {
        match self {
            ValueScale::Linear => vec![(0.0, 0.0), (top / 2.0, 0.5), (top, 1.0)],
            ValueScale::Signed => vec![(-top, 0.0), (0.0, 0.5), (top, 1.0)],
            ValueScale::Log => (0..=Self::DECADES as i32).map(|d| (top * 10f32.powi(d - Self::DECADES as i32), d as f32 / Self::DECADES)).collect(),
        }
    }
}

/// A diverging colour for a difference in [-1, 1]: blue below 0, white at 0, red above.
pub fn diverging(difference: f32) -> (u8, u8, u8) {
    let d = if difference.is_finite() { difference.clamp(-1.0, 1.0) } else { 0.0 };
    let fade = |full: f32| (255.0 - (255.0 - full) * d.abs()).round() as u8;
    if d >= 0.0 {
        (fade(178.0), fade(24.0), fade(43.0)) // towards #b2182b
    } else {
        (fade(33.0), fade(102.0), fade(172.0)) // towards #2166ac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_is_white_at_zero_and_saturated_at_the_ends() {
        assert_eq!(diverging(0.0), (255, 255, 255));
        assert_eq!(diverging(1.0), (178, 24, 43));
        assert_eq!(diverging(-1.0), (33, 102, 172));
        assert_eq!(diverging(-7.0), diverging(-1.0));
    }

    #[test]
    fn ends_and_middle_are_viridis() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(1.0), (253, 231, 37));
        assert_eq!(viridis(0.5), (33, 144, 141));
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(f32::NAN), viridis(0.0));
        assert_eq!(ColourScale::Greys.colour(0.5), (128, 128, 128));
        assert_eq!(ColourScale::Magma.colour(1.0), (252, 253, 191));
    }

    #[test]
    fn an_overlay_takes_the_strongest_heads_hue_as_strong_as_its_weight() {
        let (a, b) = ([1.0, 0.2, 0.0], [0.0, 0.6, 0.0]);
        let cells = overlay(&[(3, &a[..]), (7, &b[..])], ValueScale::Linear, 1.0);
        assert_eq!(cells[0], HEAD_HUES[3], "head 3, at full strength");
        assert_eq!(cells[1], tint(HEAD_HUES[7], 0.6));
        assert_eq!(cells[2], (255, 255, 255), "nothing anywhere: white");
        assert_eq!(tint((0, 100, 200), 0.5), (128, 178, 228));
    }

    #[test]
    fn the_log_scale_spreads_three_decades() {
        let log = ValueScale::Log;
        assert_eq!(log.fraction(1.0, 1.0), 1.0);
        assert!((log.fraction(0.1, 1.0) - 2.0 / 3.0).abs() < 1e-6);
        assert!((log.fraction(0.01, 1.0) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(log.fraction(0.0001, 1.0), 0.0);
        assert_eq!(log.fraction(0.0, 1.0), 0.0);
        // Relative to the top: norms topped by 4.
        assert!((log.fraction(0.4, 4.0) - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(ValueScale::Linear.fraction(0.25, 0.5), 0.5);
        // A difference: −1 at the bottom, 0 in the middle (white), 1 at the top.
        assert_eq!(ValueScale::Signed.fraction(-1.0, 1.0), 0.0);
        assert_eq!(ColourScale::Diverging.colour(ValueScale::Signed.fraction(0.0, 1.0)), (255, 255, 255));
        assert_eq!(ColourScale::Diverging.colour(ValueScale::Signed.fraction(0.4, 1.0)), diverging(0.4));
        let ticks: Vec<(f32, f32)> = log.ticks(1.0);
        assert_eq!(ticks.len(), 4);
        assert!((ticks[1].0 - 0.01).abs() < 1e-7 && (ticks[1].1 - 1.0 / 3.0).abs() < 1e-6);
    }
}
