//! The page's sizes, which its worker keeps to as well: how long a text it keeps whole, how
//! long it runs at all, the probe's.

/// The sentence the page opens with.
pub const DEFAULT_TEXT: &str = "The cat sat on the mat";

/// The most tokens whose maps the page keeps whole: the maps grow with the square of the
/// length, and the page should answer while a person types. A translation, a change of
/// heads and a sweep read at most this many.
pub const WHOLE_MAX_TOKENS: usize = 128;

/// The most tokens of a language model's or an encoder's text the page runs (the model's
/// own limit where smaller). Beyond [`WHOLE_MAX_TOKENS`] a text is long: its maps are kept
/// pooled, at most [`POOLED_ACROSS`] blocks across, and a head's whole map is computed when
/// a view shows it.
pub const LONG_MAX_TOKENS: usize = 4096;
pub const POOLED_ACROSS: usize = 128;

/// The probe's size: TransformerLens's usual 50 random tokens, over four seeds.
pub const PROBE_LENGTH: usize = 50;
pub const PROBE_SEEDS: [u64; 4] = [0, 1, 2, 3];
/// The probe's lengths to choose from (random tokens a copy): the longest reads 2,001 tokens
/// or more, a long text's length.
pub const PROBE_LENGTHS: [usize; 3] = [PROBE_LENGTH, 500, 1000];

/// Whether a probe of `length` random tokens a copy runs pooled, as a long text does: its
/// two copies (and a token or two around them) are more than the page keeps whole.
pub fn probe_runs_pooled(length: usize) -> bool {
    2 * length + 2 > WHOLE_MAX_TOKENS
}
