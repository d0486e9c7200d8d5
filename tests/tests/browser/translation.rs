//! A translator in the page: the translation, token by token, as the engine makes it,
//! and the encoder's self-attention in the views that show one sequence.

use std::time::Duration;

use app::components::token_label;
use attnscope_tests::model_dir;
use engine::translator::Translator;

use super::head_views::math_rows;
use super::*;

/// The page with a translator chosen and `text` translated, and the engine's own report of it.
fn translated_in_the_page(direction: &str, text: &str) -> (Browser, engine::AttentionReport) {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", direction);
    type_text(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let native = Translator::from_dir(direction, &model_dir(direction)).unwrap().translate(text, WHOLE_MAX_TOKENS, true).unwrap();
    (browser, native)
}

#[test]
fn a_translator_translates_in_the_page_and_its_encoder_fills_the_views() {
    let (browser, native) = translated_in_the_page("en-pt", "The cat sat on the mat.");

    // The translation, as the package's engine gives it, and its tokens one by one.
    let shown = browser.wait_for("the translation", LOAD, || {
        let found = browser.find_all("[data-testid=translation-text]");
        found.first().map(|e| browser.text(e)).filter(|t| !t.is_empty())
    });
    assert_eq!(shown, "O gato sentou-se no tapete.");
    assert_eq!(native.translation.as_ref().unwrap().text, shown);
    let tokens = browser.execute(
        "return [...document.querySelectorAll('[data-testid=translation-output] [data-testid=token]')].map(t => [+t.dataset.index, t.textContent]);",
        vec![],
    );
    let target = &native.sequence("target").unwrap().tokens;
    let expected: Vec<serde_json::Value> = target.iter().enumerate().map(|(i, t)| serde_json::json!([i, token_label(&t.text)])).collect();
    assert_eq!(tokens, serde_json::Value::Array(expected));
    assert!(browser.text(&browser.by_test_id("status")).contains("the translation token by token"));

    // The views show the encoder's self-attention: the table's numbers are the engine's.
    choose(&browser, "layer-select", "2");
    choose(&browser, "head-select", "3");
    browser.click(&browser.by_test_id("table-toggle"));
    let encoder = &native.site("encoder").unwrap().maps;
    let n = encoder.keys();
    let rows = browser.wait_for("the encoder's table", Duration::from_secs(30), || {
        let rows = table_numbers(&browser);
        (rows.len() == n).then_some(rows)
    });
    for (q, row) in rows.iter().enumerate() {
        for (k, &weight) in row.iter().enumerate() {
            assert!((weight - encoder.weight(2, 3, q, k)).abs() < 1e-3, "encoder L2H3 ({q}, {k}): {weight}");
        }
    }
    keep_screenshot(&browser, "translation");

    // The arithmetic: the encoder layer's real q·k, scaled by 1/√32, no mask.
    browser.click(&browser.by_test_id("tab-math"));
    let math = browser.wait_for("the math rows", Duration::from_secs(30), || {
        let rows = math_rows(&browser);
        (rows.len() == n).then_some(rows)
    });
    for (k, [_, _, weight, model]) in math.iter().enumerate() {
        assert!((weight - model).abs() < 1e-3, "key {k}: the steps give the model's weight");
        assert!((model - encoder.weight(2, 3, n - 1, k)).abs() < 1e-3, "key {k}");
    }

    // What does not apply to a translator says so and cannot be pressed. (Its encoder's
    // value norms and heads switched off do apply: see other_models.rs.)
    for id in ["compare-toggle", "find-induction", "mask-select"] {
        let disabled = browser.execute("return arguments[0].disabled;", vec![browser.by_test_id(id).as_arg()]);
        assert_eq!(disabled, serde_json::json!(true), "{id} is disabled for a translator");
    }
    assert!(browser.text(&browser.by_test_id("probe-status")).contains("translator"));

    // And back to SmolLM2: no translation, its own maps.
    choose(&browser, "model-select", "smollm2-135m");
    browser.wait_for("SmolLM2's run", LOAD, || {
        (browser.find_all("[data-testid=translation-text]").is_empty() && browser.text(&browser.by_test_id("status")).starts_with("Computed in")).then_some(())
    });
}

#[test]
fn the_alignment_map_shows_where_each_translated_token_looked() {
    use engine::analysis::summary::all_heads_mean;
    let (browser, native) = translated_in_the_page("pt-en", "O gato sentou-se no tapete.");
    let cross = &native.site("cross").unwrap().maps;
    let [layers, heads, rows, columns] = cross.shape();
    assert_eq!((layers, heads), (2, 8));

    // At first the mean of every head: a pixel per weight, the engine's numbers in viridis.
    let attribute = |name: &str| browser.attribute(&browser.by_test_id("alignment-map"), name).unwrap_or_default();
    assert_eq!((attribute("data-site"), attribute("data-layer"), attribute("data-head")), ("cross".into(), "mean".into(), "mean".into()));
    assert_eq!((attribute("data-rows"), attribute("data-columns")), (rows.to_string(), columns.to_string()));
    let css = "[data-testid=alignment-map] canvas";
    let (width, pixels) = canvas_pixels(&browser, css);
    assert_eq!(width, columns);
    assert_pixels("the mean alignment", &pixels, all_heads_mean(cross).into_iter().map(viridis));

    // Labels: the translation's tokens down the side, the source's along the bottom.
    let labels = |axis: &str| -> Vec<String> {
        let found = browser.execute(
            "return [...document.querySelectorAll(arguments[0])].map(li => li.textContent);",
            vec![serde_json::json!(format!("[data-testid=alignment-map] .{axis} li"))],
        );
        found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let names = |sequence: &str| -> Vec<String> { native.sequence(sequence).unwrap().tokens.iter().map(|t| token_label(&t.text)).collect() };
    assert_eq!(labels("query-labels"), names("target"));
    assert_eq!(labels("key-labels"), names("source"));
    browser.execute("document.querySelector('section.alignment').scrollIntoView({block: 'start'});", vec![]);
    keep_screenshot(&browser, "alignment");

    // One head, from the picker and from the grid of every cross-attention head.
    choose(&browser, "alignment-select", "L1H3");
    let (_, pixels) = browser.wait_for("layer 1, head 3", Duration::from_secs(10), || (attribute("data-head") == "3").then(|| canvas_pixels(&browser, css)));
    assert_eq!(attribute("data-layer"), "1");
    assert_pixels("L1H3", &pixels, cross.head(1, 3).iter().map(|&w| viridis(w)));
    // Its arithmetic for the third translated token: the engine's raw q·k, scaled, softmaxed.
    choose(&browser, "alignment-math-query", "2");
    let scores = native.site("cross").unwrap().scores_of(1).unwrap();
    let math = browser.wait_for("the row's arithmetic", Duration::from_secs(10), || {
        let found = browser.execute(
            "const s = document.querySelector('[data-testid=alignment-math-query]');
             if (!s || s.value !== '2') return null;
             return [...document.querySelectorAll('[data-testid=alignment-math] tbody tr')].map(tr =>
                 ['dot', 'weight', 'model'].map(c => +tr.querySelector('td.' + c).textContent));",
            vec![],
        );
        found.as_array().cloned()
    });
    assert_eq!(math.len(), columns);
    for (k, row) in math.iter().enumerate() {
        let [dot, weight, model] = [0, 1, 2].map(|i| row[i].as_f64().unwrap() as f32);
        assert!((dot - scores.dot[3][2][k]).abs() < 1e-3, "q·k for source token {k}: {dot}");
        assert!((weight - cross.weight(1, 3, 2, k)).abs() < 1e-3 && (model - weight).abs() < 1e-3, "source token {k}");
    }

    // The same head as lines, the source on the left and the translation on the right.
    let lines = browser.execute(
        "return [...document.querySelectorAll('[data-testid=cross-lines] line')].map(l => [+l.dataset.left, +l.dataset.right, +l.getAttribute('stroke-opacity')]);",
        vec![],
    );
    let lines = lines.as_array().unwrap();
    let visible = (0..rows).flat_map(|q| (0..columns).map(move |k| (q, k))).filter(|&(q, k)| cross.weight(1, 3, q, k) >= 0.005).count();
    assert_eq!(lines.len(), visible, "a line for every visible weight");
    for line in lines {
        let (k, q, opacity) = (line[0].as_u64().unwrap() as usize, line[1].as_u64().unwrap() as usize, line[2].as_f64().unwrap() as f32);
        assert!((opacity - cross.weight(1, 3, q, k)).abs() < 1e-3, "line from source {k} to target {q}");
    }
    let source_labels =
        browser.execute("return [...document.querySelectorAll('[data-testid=cross-lines] text.source-token')].map(t => t.textContent);", vec![]);
    assert_eq!(source_labels, serde_json::json!(names("source")));
    assert_eq!(browser.find_all("[data-testid=cross-grid] [data-testid=cross-thumb]").len(), layers * heads + layers + 1);
    browser.click(&browser.find_all("[data-testid=cross-thumb][data-layer='0'][data-head='5']").remove(0));
    let (_, pixels) = browser.wait_for("layer 0, head 5", Duration::from_secs(10), || {
        (attribute("data-layer") == "0" && attribute("data-head") == "5").then(|| canvas_pixels(&browser, css))
    });
    assert_pixels("L0H5", &pixels, cross.head(0, 5).iter().map(|&w| viridis(w)));

    // The numbers behind the picture, and the choice in the URL.
    browser.click(&browser.find_all("[data-testid=alignment-map] details summary").remove(0));
    let numbers = browser.execute(
        "return [...document.querySelectorAll('[data-testid=alignment-table] tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => +td.textContent));",
        vec![],
    );
    let numbers = numbers.as_array().unwrap();
    assert_eq!(numbers.len(), rows);
    for (q, row) in numbers.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), columns);
        for (k, cell) in row.iter().enumerate() {
            assert!((cell.as_f64().unwrap() as f32 - cross.weight(0, 5, q, k)).abs() < 1e-4, "L0H5 ({q}, {k})");
        }
    }
    let search = browser.execute("return window.location.search;", vec![]);
    assert!(search.as_str().unwrap().contains("align=L0H5"), "{search}");
    let link = browser.execute("return window.location.href;", vec![]);
    let again = Browser::start();
    again.goto(link.as_str().unwrap());
    wait_for_run(&again);
    let shown = again.wait_for("the linked alignment", LOAD, || {
        let map = again.find_all("[data-testid=alignment-map]");
        map.first().map(|m| (again.attribute(m, "data-layer").unwrap_or_default(), again.attribute(m, "data-head").unwrap_or_default()))
    });
    assert_eq!(shown, ("0".to_string(), "5".to_string()), "a link brings back the head");

    // Hovering a translated token lights its row, with its label.
    let token = browser.find_all("[data-testid=translation-output] [data-testid=token][data-index='1']").remove(0);
    browser.hover_centre(&token);
    let band = browser.wait_for("the row's band", Duration::from_secs(10), || {
        browser.find_all("[data-testid=alignment-map] .focus-row").first().and_then(|b| browser.attribute(b, "style"))
    });
    assert!(band.contains(&format!("top: {:.3}%", 100.0 / rows as f64)), "{band}");
    let lit = browser.execute("return document.querySelector('[data-testid=alignment-map] .query-labels li.focused')?.dataset.index;", vec![]);
    assert_eq!(lit, serde_json::json!("1"));
    // A click pins it: the row stays lit when the pointer leaves.
    browser.click(&token);
    browser.hover_centre(&browser.by_test_id("status"));
    let pinned = browser.wait_for("the pinned row", Duration::from_secs(10), || {
        let pressed = browser.attribute(&token, "aria-pressed");
        let band = browser.find_all("[data-testid=alignment-map] .focus-row").first().and_then(|b| browser.attribute(b, "style"));
        (pressed.as_deref() == Some("true")).then_some(band).flatten()
    });
    assert!(pinned.contains(&format!("top: {:.3}%", 100.0 / rows as f64)), "{pinned}");
}

#[test]
fn a_long_translation_grows_token_by_token_in_the_page() {
    let (browser, _) = translated_in_the_page("en-pt", "Hello.");
    // Record every state of the translation's tokens as the page changes.
    browser.execute(
        "window.grown = [];
         new MutationObserver(() => {
             const out = document.querySelector('[data-testid=translation-output]');
             if (out) window.grown.push([out.dataset.streaming, out.querySelectorAll('[data-testid=token]').length]);
         }).observe(document.querySelector('main'), { childList: true, subtree: true, attributes: true });",
        vec![],
    );
    // Three sentences, near the source's 128 tokens: the worker tells a run's tokens once it
    // has gone on for 0.1 s or written 32, then every 50 ms or 8 tokens (worker/src/growing.rs),
    // so a translation of well over 48 tokens grows three times or more on any machine.
    let sentence = "Although the weather forecast had promised a sunny afternoon, heavy clouds rolled in from the sea, \
                    and by four o'clock the whole town was soaked by a storm that nobody had expected. ";
    let text = sentence.repeat(3);
    let text = text.trim_end();
    paste(&browser, &browser.by_test_id("prompt-input"), text);
    wait_until_shown(&browser, text);
    let native = Translator::from_dir("en-pt", &model_dir("en-pt")).unwrap().translate(text, WHOLE_MAX_TOKENS, true).unwrap();
    let total = native.sequence("target").unwrap().tokens.len();
    let grown = browser.execute("return window.grown;", vec![]);
    let grown: Vec<(String, usize)> = grown.as_array().unwrap().iter().map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap() as usize)).collect();
    let growing: Vec<usize> = grown.iter().filter(|(streaming, _)| streaming == "true").map(|&(_, n)| n).collect();
    assert!(growing.len() >= 3, "the translation was seen growing: {grown:?}");
    assert!(growing.windows(2).all(|w| w[0] <= w[1]), "it only grows: {growing:?}");
    assert!(growing.iter().all(|&n| n > 0 && n <= total), "{growing:?} of {total}");
    assert_eq!(grown.last(), Some(&("false".to_string(), total)), "it ends as the engine's whole translation");
}

#[test]
fn odd_text_in_a_translator_gives_a_sound_translation_or_a_clear_message() {
    let (browser, _) = translated_in_the_page("en-pt", "Hello.");
    let model = Translator::from_dir("en-pt", &model_dir("en-pt")).unwrap();
    let input = browser.by_test_id("prompt-input");
    let long = "The cat sat on the mat. ".repeat(30);
    for text in ["I love pizza 🍕 and 猫!", "مرحبا بالعالم", "a\u{301}\u{200F}b", long.as_str()] {
        paste(&browser, &input, text);
        wait_until_shown(&browser, text);
        let status = browser.text(&browser.by_test_id("status"));
        assert!(status.starts_with("Computed in"), "{text:?}: {status}");
        let native = model.translate(text, WHOLE_MAX_TOKENS, true).unwrap();
        let shown = browser.text(&browser.by_test_id("translation-text"));
        assert_eq!(shown, native.translation.as_ref().unwrap().text, "{text:?}");
        let rows = browser.attribute(&browser.by_test_id("alignment-map"), "data-rows").unwrap();
        assert_eq!(rows, native.sequence("target").unwrap().tokens.len().to_string(), "{text:?}");
        // The long text is cut to the page's limit, and the page says so.
        if let Some(cut) = &native.truncated {
            let notice = browser.text(&browser.by_test_id("notice"));
            assert_eq!(notice, format!("The text gives {} tokens; only the first {WHOLE_MAX_TOKENS} (this page's limit) are shown.", cut.total_tokens));
        }
    }
    assert!(model.translate(&long, WHOLE_MAX_TOKENS, true).unwrap().truncated.is_some(), "the long text was cut");
    // Nothing to translate: a message, and nothing runs.
    paste(&browser, &input, "   ");
    let status = browser.by_test_id("status");
    browser.wait_for("the empty-text message", Duration::from_secs(10), || browser.text(&status).starts_with("The text is empty").then_some(()));
    assert!(browser.find_all("[data-testid=translation-text]").is_empty(), "no translation of nothing");
}
