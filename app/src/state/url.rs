//! The view in the URL: text, model, layer, head, mask, tab, weighting, colour and value
//! scales, pinned token, a translation's alignment choice, the reading switches, the heads
//! switched off, of which attention and how (`ablate`, `ablate-site`, `ablation`), the answer and what it is measured against
//! (`answer`, `versus`), the text patched from (`patch`) and the effects the grid is coloured
//! by (`effects`) live in the query string, so a link brings a colleague to exactly the same view.

use report::analysis::reading::Reading;
use report::figure::ValueScale;
use report::{Ablation, HeadId, Mask};

use super::display::Alignment;
use super::selection::Tab;
use crate::catalog::DEFAULT_MODEL;
use crate::interventions::EffectKind;
use crate::weighting::Weighting;
use crate::DEFAULT_TEXT;

/// Everything the URL holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    pub text: String,
    pub model: String,
    pub layer: usize,
    pub head: usize,
    pub mask: Mask,
    pub tab: Tab,
    pub weighting: Weighting,
    pub token: Option<usize>,
    pub alignment: Alignment,
    /// The reading switches: the first token hidden (`sink=hide`), words (`pool=words`).
    pub reading: Reading,
    pub value_scale: ValueScale,
    /// Heads switched off (`ablate=23.3,18.6`), and how (`ablation=mean`).
    pub ablated: Vec<HeadId>,
    /// The attention they are of, where not the grid's (`ablate-site=encoder`).
    pub ablated_site: Option<String>,
    pub ablation: Ablation,
    /// The answer effects are measured on, and the token it is measured against.
    pub answer: Option<String>,
    pub versus: Option<String>,
    /// The second text, for patching.
    pub patch_source: String,
    /// The effects the grid is coloured by (`effects=ablation`): a link runs their sweep.
    pub effects: Option<EffectKind>,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            text: DEFAULT_TEXT.into(),
            model: DEFAULT_MODEL.into(),
            layer: 0,
            head: 0,
            mask: Mask::Causal,
            tab: Tab::Heatmap,
            weighting: Weighting::Attention,
            token: None,
            alignment: Alignment::AllHeads,
            reading: Reading::default(),
            value_scale: ValueScale::Linear,
            ablated: Vec::new(),
            ablated_site: None,
            ablation: Ablation::Zero,
            answer: None,
            versus: None,
            patch_source: String::new(),
            effects: None,
        }
    }
}

/// What a value leaves as it is: the unreserved characters (RFC 3986); the rest is
/// percent-encoded as UTF-8 (a space is `%20`, as a link a person copies reads best).
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, ESCAPED).to_string()
}

impl ViewState {
    /// Reads a query string (with or without its `?`); what is missing or unreadable keeps its default.
    pub fn from_query(query: &str) -> Self {
        let mut state = Self::default();
        // Decoded as forms write them: `+` is a space, a bad escape stays as it is.
        for (key, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "text" => state.text = value,
                "model" if !value.is_empty() => state.model = value,
                "layer" => state.layer = value.parse().unwrap_or(0),
                "head" => state.head = value.parse().unwrap_or(0),
                "mask" => state.mask = value.parse().unwrap_or(Mask::Causal),
                "view" => state.tab = Tab::ALL.into_iter().find(|t| t.name() == value).unwrap_or(Tab::Heatmap),
                "weigh" => state.weighting = Weighting::from_name(&value).unwrap_or(Weighting::Attention),
                "token" => state.token = value.parse().ok(),
                "align" => state.alignment = Alignment::from_name(&value).unwrap_or(Alignment::AllHeads),
                "sink" => state.reading.hide_first_key = value == "hide",
                "pool" => state.reading.by_words = value == "words",
                "scale" => state.value_scale = ValueScale::from_name(&value).unwrap_or_default(),
                "ablate" => state.ablated = value.split(',').filter_map(|h| h.parse().ok()).collect(),
                "ablate-site" if !value.is_empty() => state.ablated_site = Some(value),
                "ablation" => state.ablation = if value == "mean" { Ablation::Mean } else { Ablation::Zero },
                "answer" if !value.is_empty() => state.answer = Some(value),
                "versus" if !value.is_empty() => state.versus = Some(value),
                "patch" => state.patch_source = value,
                "effects" => state.effects = EffectKind::from_name(&value),
                _ => {}
            }
        }
        state
    }

    /// Writes the query string, `?` included.
    pub fn to_query(&self) -> String {
        let mut query = format!(
            "?model={}&text={}&layer={}&head={}&mask={}&view={}",
            encode(&self.model),
            encode(&self.text),
            self.layer,
            self.head,
            self.mask.name(),
            self.tab.name()
        );
        if self.weighting != Weighting::Attention {
            query.push_str(&format!("&weigh={}", self.weighting.name()));
        }
        if let Some(token) = self.token {
            query.push_str(&format!("&token={token}"));
        }
        if self.alignment != Alignment::AllHeads {
            query.push_str(&format!("&align={}", self.alignment.name()));
        }
        if self.reading.hide_first_key {
            query.push_str("&sink=hide");
        }
        if self.reading.by_words {
            query.push_str("&pool=words");
        }
        if self.value_scale != ValueScale::Linear {
            query.push_str(&format!("&scale={}", self.value_scale.name()));
        }
        if !self.ablated.is_empty() {
            let heads: Vec<String> = self.ablated.iter().map(HeadId::to_string).collect();
            query.push_str(&format!("&ablate={}", encode(&heads.join(","))));
            if let Some(site) = &self.ablated_site {
                query.push_str(&format!("&ablate-site={}", encode(site)));
            }
        }
        if self.ablation != Ablation::Zero {
            query.push_str(&format!("&ablation={}", self.ablation.name()));
        }
        for (key, token) in [("answer", &self.answer), ("versus", &self.versus)] {
            if let Some(token) = token {
                query.push_str(&format!("&{key}={}", encode(token)));
            }
        }
        if !self.patch_source.is_empty() {
            query.push_str(&format!("&patch={}", encode(&self.patch_source)));
        }
        if let Some(kind) = self.effects {
            query.push_str(&format!("&effects={}", kind.name()));
        }
        query
    }
}

/// The view the page's URL asks for.
pub fn read_location() -> ViewState {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    ViewState::from_query(&search)
}

/// Puts the view in the URL without adding a history entry for every keystroke.
pub fn write_location(state: &ViewState) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&state.to_query()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_through_the_query() {
        let state = ViewState {
            text: "naïve café & 🙂 = 100% + more?".into(),
            model: "all-minilm-l6-v2".into(),
            layer: 5,
            head: 11,
            mask: Mask::None,
            tab: Tab::Math,
            weighting: Weighting::ValueNorms,
            token: Some(3),
            alignment: Alignment::Head(1, 7),
            reading: Reading { hide_first_key: true, by_words: true },
            value_scale: ValueScale::Log,
            ablated: vec![HeadId { layer: 23, head: 3 }, HeadId { layer: 18, head: 6 }],
            ablated_site: Some("encoder".into()),
            ablation: Ablation::Mean,
            answer: Some(" Mary".into()),
            versus: Some(" John".into()),
            patch_source: "When Mary and John went to the store, Mary gave a drink to".into(),
            effects: Some(EffectKind::Patching),
        };
        assert_eq!(ViewState::from_query(&state.to_query()), state);
    }

    #[test]
    fn missing_and_broken_fields_keep_their_defaults() {
        assert_eq!(ViewState::from_query(""), ViewState::default());
        let state = ViewState::from_query("?layer=x&mask=sideways&view=nope&weigh=mass&text=a+b%2&align=L&junk");
        assert_eq!(state.alignment, Alignment::AllHeads);
        assert_eq!((state.layer, state.mask, state.tab, state.weighting), (0, Mask::Causal, Tab::Heatmap, Weighting::Attention));
        assert_eq!(state.text, "a b%2");
    }
}
