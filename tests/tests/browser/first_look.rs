//! Every model of the picker opened as a newcomer opens it: its link, the sample it comes
//! with (a sentence, a clip, a photo), the page read from top to bottom. No block of another
//! kind of model, no switch that means nothing for its input, words that name the model it
//! is, and a rollout a first look can read.

use super::*;

/// The window's height (webdriver.rs opens 1280 × 1000).
const SCREEN_PX: f64 = 1000.0;

/// A model's page by its link, once its first run is shown: its height in pixels and the
/// words it shows (the model picker's list of every model left out).
fn first_look(browser: &Browser, model: &str) -> (f64, String) {
    browser.goto(&format!("{}?model={model}", app_url()));
    wait_for_run(browser);
    let height = browser.execute("return document.documentElement.scrollHeight;", vec![]).as_f64().unwrap();
    let words = browser.execute(
        "const main = document.querySelector('main').cloneNode(true); \
         main.querySelectorAll('select, option, script').forEach(e => e.remove()); \
         return main.innerText;",
        vec![],
    );
    (height, words.as_str().unwrap().to_string())
}

#[test]
fn every_model_opens_on_a_page_a_newcomer_reads_from_top_to_bottom() {
    let browser = open_page();
    wait_for_run(&browser);
    let models = ["smollm2-135m", "all-minilm-l6-v2", "gemma3-270m", "en-pt", "whisper-tiny-en", "dinov2-small"];
    // The names of the other families, which no page but their own says.
    let families = [("BERT", "all-minilm-l6-v2"), ("Whisper", "whisper-tiny-en"), ("DINOv2", "dinov2-small"), ("Marian", "en-pt")];
    let mut heights = Vec::new();
    for model in models {
        let (height, words) = first_look(&browser, model);
        keep_screenshot_of(&browser, &format!("first-look-{model}"), None);
        // The page's words beside its picture, to read as a newcomer would.
        std::fs::write(root().join("target/screenshots").join(format!("first-look-{model}.txt")), &words).unwrap();
        println!("{model}: {height} px");
        heights.push((model, height));
        for (family, own) in families {
            assert!(own == model || !words.contains(family), "{model}'s page names {family}:\n{words}");
        }
        let present = |css: &str| !browser.find_all(css).is_empty();
        // A translation's block is a translator's: a speech model's cross-attention reads 1,500
        // frames, which its own views pool and label with times.
        assert_eq!(present("[data-testid=alignment-map]"), model == "en-pt", "{model}: the translation's alignment block");
        match model {
            "dinov2-small" => {
                assert!(!present("[data-testid=word-pool]"), "the Words switch over a picture's patches");
                assert!(!words.contains("Next token"), "a picture's model guesses no token:\n{words}");
                assert!(!words.contains("first token") && words.contains("Hide the class token"), "a picture's first item is its class token:\n{words}");
            }
            // Its output is the transcript, shown at the top.
            "whisper-tiny-en" => assert!(!words.contains("Next token"), "{words}"),
            "all-minilm-l6-v2" => assert!(words.contains("all-minilm-l6-v2 is an encoder"), "{words}"),
            _ => {}
        }
    }
    // Every page within a few screens: the text's page holds every view of a text model, and
    // no other model's page runs on far past it (Whisper's was 13 screens with a lines view
    // labelled frame by frame).
    let text_page = heights[0].1;
    for (model, height) in heights {
        assert!(height <= (text_page + 2.0 * SCREEN_PX).max(6.0 * SCREEN_PX), "{model}'s page is {height} px tall (the text model's {text_page})");
    }
}

/// SmolLM2 pours most of what reaches the last token into the first (an attention sink): the
/// rollout says so beside its bars, with the switch that hides the first token where it
/// stands, and one click makes the rest readable (the reading bar's switch follows).
#[test]
fn the_rollout_offers_to_hide_the_sink_where_it_swamps_the_bars() {
    let browser = open_page();
    wait_for_run(&browser);
    let note = browser.by_test_id("rollout-sink-note");
    let share: f32 = browser.text(&note).split('%').next().and_then(|s| s.rsplit(' ').next()).and_then(|s| s.parse().ok()).unwrap();
    let values = |browser: &Browser| -> Vec<f32> {
        let values = browser.execute("return [...document.querySelectorAll('[data-testid=rollout-view] li')].map(li => +li.dataset.value);", vec![]);
        serde_json::from_value(values).unwrap()
    };
    let before = values(&browser);
    // The engine's rollout of the last token, in full (the page shows six decimals, and the
    // sink takes all but a millionth here).
    let report = opening_report();
    let flow = engine::analysis::rollout::rollout_row(report.attention(), report.tokens().len() - 1);
    let total: f32 = flow.iter().sum();
    assert!((share - 100.0 * flow[0] / total).abs() <= 0.5, "the note says {share}% for {flow:?}");
    assert!(share >= 50.0, "the note shows when the sink swamps the bars: {share}%");
    for (shown, engine) in before.iter().zip(&flow) {
        assert!((shown - engine).abs() <= 1e-6, "{before:?} against the engine's {flow:?}");
    }
    browser.click(&browser.by_test_id("rollout-hide-sink"));
    browser.wait_for("the note to go", LOAD, || browser.find_all("[data-testid=rollout-sink-note]").is_empty().then_some(()));
    let hidden = browser.execute("return document.querySelector('[data-testid=hide-sink]').checked;", vec![]);
    assert_eq!(hidden, serde_json::Value::Bool(true), "one reading: the reading bar's switch is on too");
    let after = values(&browser);
    assert_eq!(after.len() + 1, before.len(), "the first token left out");
    // The rest renormalised: each bar is its share of what the other tokens carry. These are
    // products of small weights over 30 layers, and the page's weights and the engine's differ
    // by about 1e-5 of themselves (their products sum in different orders): a few 1e-4 of a
    // share at most.
    let rest: f32 = flow[1..].iter().sum();
    for (i, (&shown, &engine)) in after.iter().zip(&flow[1..]).enumerate() {
        assert!((shown - engine / rest).abs() <= 1e-3, "token {}: {shown} against {}", i + 1, engine / rest);
    }
    assert!(after.iter().filter(|&&v| v >= 0.05).count() >= 2, "readable: more than one bar stands out: {after:?}");
}
