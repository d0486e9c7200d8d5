//! Whisper in the page: the sample clip on choosing the model, a file given to the audio
//! input, the microphone (Chromium's fake capture) and a refused one; the transcript, the
//! cross map, the word timings and the decoder's self-attention equal the engine's own.

use std::time::Duration;

use attnscope_tests::webdriver::Browser;
use attnscope_tests::{model_dir, root};
use engine::audio::wav::read_wav;
use engine::transcriber::Transcriber;
use engine::AttentionReport;

use super::*;

fn clip_path(name: &str) -> std::path::PathBuf {
    root().join(format!("tests/fixtures/whisper/{name}.wav"))
}

/// The engine's own transcription of a reference clip.
fn native(name: &str) -> AttentionReport {
    let model = Transcriber::from_dir("whisper-tiny-en", &model_dir("whisper-tiny-en")).unwrap();
    model.transcribe(&read_wav(&std::fs::read(clip_path(name)).unwrap()).unwrap()).unwrap()
}

/// Waits for the transcript of `expected` text and returns the tokens' (index, id) pairs.
fn wait_for_transcript(browser: &Browser, expected: &str) -> Vec<(usize, u32)> {
    browser.wait_for(&format!("the transcript {expected:?}"), LOAD, || {
        let status = browser.text(&browser.by_test_id("status"));
        assert!(!status.starts_with("Error"), "the page shows an error: {status}");
        let shown = browser.find_all("[data-testid=transcript-text]").first().map(|e| browser.text(e))?;
        (shown == expected && status.starts_with("Computed in")).then_some(())
    });
    let pairs = browser
        .execute("return [...document.querySelectorAll('[data-testid=transcript] [data-testid=token]')].map(t => [+t.dataset.index, +t.dataset.id]);", vec![]);
    serde_json::from_value(pairs).unwrap()
}

fn ids(report: &AttentionReport) -> Vec<(usize, u32)> {
    report.sequence("transcript").unwrap().tokens.iter().enumerate().map(|(i, t)| (i, t.id)).collect()
}

/// The cross map's numbers as the page shows them: (rows, frames, values).
fn cross_map_numbers(browser: &Browser) -> (usize, usize, Vec<f32>) {
    let map = browser.by_test_id("cross-map");
    let number = |name: &str| browser.attribute(&map, name).and_then(|v| v.parse::<usize>().ok()).unwrap();
    let values: Vec<f32> = serde_json::from_str(&browser.attribute(&map, "data-values").unwrap()).unwrap();
    (number("data-rows"), number("data-frames"), values)
}

/// The engine's cross-attention averaged over `heads`, as the map shows it: the rows that
/// wrote tokens 1.., over the frames heard.
fn expected_cross(report: &AttentionReport, heads: &[(usize, usize)], frames: usize) -> Vec<f32> {
    let maps = &report.site("cross").unwrap().maps;
    let rows = maps.queries() - 1;
    (0..rows).flat_map(|r| (0..frames).map(move |f| heads.iter().map(|&(l, h)| maps.weight(l, h, r, f)).sum::<f32>() / heads.len() as f32)).collect()
}

fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes");
    let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "{what}: off by {worst}");
}

#[test]
fn whisper_transcribes_the_sample_and_a_file_and_the_views_hold_the_engines_numbers() {
    let browser = open_page();
    wait_for_run(&browser);
    choose(&browser, "model-select", "whisper-tiny-en");
    // The sample clip comes on its own: a first visit sees the feature working.
    let flite = native("flite-cat");
    let shown = wait_for_transcript(&browser, "The cat sat on the mat.");
    assert_eq!(shown, ids(&flite));
    assert!(browser.text(&browser.by_test_id("audio-heard")).contains("sample clip"));
    let transcript = flite.transcript.as_ref().unwrap();

    // The cross map of layer 0, head 0, then of the alignment heads.
    let (rows, frames, values) = cross_map_numbers(&browser);
    assert_eq!(rows, flite.sequence("transcript").unwrap().tokens.len() - 1);
    assert_eq!(frames, (transcript.audio_seconds / 0.02).ceil() as usize);
    assert_close(&values, &expected_cross(&flite, &[(0, 0)], frames), "cross L0 H0");
    choose(&browser, "layer-select", "3");
    choose(&browser, "head-select", "2");
    browser.wait_for("the cross map of L3 H2", Duration::from_secs(30), || {
        let map = browser.by_test_id("cross-map");
        (browser.attribute(&map, "data-layer").as_deref() == Some("3") && browser.attribute(&map, "data-head").as_deref() == Some("2")).then_some(())
    });
    assert_close(&cross_map_numbers(&browser).2, &expected_cross(&flite, &[(3, 2)], frames), "cross L3 H2");
    choose(&browser, "cross-view", "alignment");
    let alignment: Vec<(usize, usize)> = transcript.alignment_heads.iter().map(|&[l, h]| (l, h)).collect();
    browser.wait_for("the alignment heads' map", Duration::from_secs(30), || {
        (browser.attribute(&browser.by_test_id("cross-map"), "data-head").as_deref() == Some("alignment")).then_some(())
    });
    assert_close(&cross_map_numbers(&browser).2, &expected_cross(&flite, &alignment, frames), "alignment heads");

    // Each word's time, as the engine (and openai-whisper) finds it.
    let words = browser.execute(
        "return [...document.querySelectorAll('[data-testid=word-timings] [data-testid=word]')].map(w => [w.querySelector('.word-text').textContent, +w.dataset.start, +w.dataset.end]);",
        vec![],
    );
    let words: Vec<(String, f64, f64)> = serde_json::from_value(words).unwrap();
    let expected: Vec<(String, f64, f64)> = transcript.words.iter().map(|w| (w.word.trim().to_string(), w.start, w.end)).collect();
    assert_eq!(words, expected);
    // The spectrogram holds the sound heard; a hovered token lights the frames it listened to.
    let spectrogram = browser.by_test_id("spectrogram");
    assert_eq!(browser.attribute(&spectrogram, "data-frames"), Some(transcript.spectrogram.frames.to_string()));
    let cat = browser.find_all("[data-testid=transcript] [data-testid=token]")[3].clone();
    browser.hover_centre(&cat);
    browser.wait_for("the token's frames lit", Duration::from_secs(10), || {
        let lit = browser.find_all("[data-testid=spectrogram] .listened").len();
        (browser.attribute(&spectrogram, "data-lit").as_deref() == Some("3") && lit > 0).then_some(())
    });
    assert_eq!(browser.find_all("[data-testid=alignment-path]").len(), 1);
    keep_screenshot(&browser, "speech");
    keep_screenshot_of(&browser, "speech-cross", Some("word-timings"));

    // The decoder's self-attention in the existing views: the table is the engine's.
    browser.click(&browser.by_test_id("table-toggle"));
    let decoder = &flite.site("decoder").unwrap().maps;
    let n = decoder.keys();
    let table = browser.wait_for("the decoder's table", Duration::from_secs(30), || {
        let rows = table_numbers(&browser);
        (rows.len() == n).then_some(rows)
    });
    for (q, row) in table.iter().enumerate() {
        for (k, &w) in row.iter().enumerate() {
            assert!((w - decoder.weight(3, 2, q, k)).abs() < 1e-3, "decoder L3 H2 ({q}, {k}): {w}");
        }
    }

    // The encoder's map, pooled, then whole on demand.
    let encoder = browser.by_test_id("encoder-map");
    assert_eq!(browser.attribute(&encoder, "data-resolution").as_deref(), Some("pooled"));
    browser.click(&browser.by_test_id("encoder-zoom"));
    browser.wait_for("the whole encoder map", Duration::from_secs(60), || {
        (browser.attribute(&encoder, "data-resolution").as_deref() == Some("whole")).then_some(())
    });
    assert_eq!(browser.attribute(&encoder, "data-cells"), Some(frames.to_string()));

    // A file given to the audio input: real speech.
    let input = browser.by_test_id("audio-file");
    browser.type_text(&input, &clip_path("librivox-amiable").display().to_string());
    let real = native("librivox-amiable");
    let shown = wait_for_transcript(&browser, "He might even have been made amiable himself.");
    assert_eq!(shown, ids(&real));
    // The status line says how long the person waited for the sound's transcript and maps.
    status_line_wait(&browser);
    let frames = (real.transcript.as_ref().unwrap().audio_seconds / 0.02).ceil() as usize;
    assert_close(&cross_map_numbers(&browser).2, &expected_cross(&real, &alignment, frames), "real speech: alignment heads");

    // Longer than Whisper's window: the first 30 s are heard, and the page says so.
    let reading = read_wav(&std::fs::read(clip_path("librivox-amiable")).unwrap()).unwrap();
    let long: Vec<f32> = std::iter::repeat_n(reading.as_slice(), 10).flatten().copied().collect();
    let long_path = std::env::temp_dir().join(format!("attnscope-long-{}.wav", std::process::id()));
    std::fs::write(&long_path, attnscope_tests::wav_16k(&long)).unwrap();
    browser.type_text(&input, &long_path.display().to_string());
    let notice = browser.wait_for("the 30-s notice", LOAD, || {
        browser.find_all("[data-testid=audio-notice]").first().map(|n| browser.text(n)).filter(|t| t.contains("first 30 s"))
    });
    assert!(notice.contains("32.9 s"), "{notice}");
    browser.wait_for("the long sound transcribed", LOAD, || {
        let seconds = browser.attribute(&browser.by_test_id("spectrogram"), "data-seconds");
        (seconds.as_deref() == Some("30.000") && browser.text(&browser.by_test_id("status")).starts_with("Computed in")).then_some(())
    });
    std::fs::remove_file(&long_path).ok();

    // Something that is not sound: a clear message, and the transcript before stays.
    browser.type_text(&input, &root().join("assets/models.json").display().to_string());
    let notice = browser.wait_for("the notice", Duration::from_secs(30), || {
        browser.find_all("[data-testid=audio-notice]").first().map(|n| browser.text(n)).filter(|t| t.contains("is not a sound"))
    });
    assert!(notice.contains("models.json"), "{notice}");
    assert!(browser.text(&browser.by_test_id("transcript-text")).starts_with("He might even have been made amiable himself."));
}

#[test]
fn the_microphone_records_through_chromiums_fake_capture_and_a_refusal_is_explained() {
    let clip = clip_path("flite-cat");
    let capture = format!("--use-file-for-fake-audio-capture={}", clip.display());
    let browser = Browser::start_with(&["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", &capture]);
    browser.goto(&format!("{}?model=whisper-tiny-en", app_url()));
    wait_for_transcript(&browser, "The cat sat on the mat.");
    let record = browser.by_test_id("record-button");
    browser.click(&record);
    browser.wait_for("recording", Duration::from_secs(20), || (browser.attribute(&record, "aria-pressed").as_deref() == Some("true")).then_some(()));
    std::thread::sleep(Duration::from_millis(2500));
    browser.click(&record);
    browser.wait_for("the recording transcribed", LOAD, || {
        let heard = browser.text(&browser.by_test_id("audio-heard"));
        let status = browser.text(&browser.by_test_id("status"));
        (heard.contains("your recording") && status.starts_with("Computed in")).then_some(())
    });
    let text = browser.text(&browser.by_test_id("transcript-text"));
    assert!(text.to_lowercase().contains("mat"), "the fake microphone plays the sample: {text:?}");

    // Without the fake permission prompt, headless Chromium refuses the microphone.
    let refusing = open_page();
    refusing.goto(&format!("{}?model=whisper-tiny-en", app_url()));
    wait_for_transcript(&refusing, "The cat sat on the mat.");
    refusing.click(&refusing.by_test_id("record-button"));
    let notice = refusing.wait_for("the refusal explained", Duration::from_secs(30), || {
        refusing.find_all("[data-testid=audio-notice]").first().map(|n| refusing.text(n)).filter(|t| t.contains("microphone") && !t.starts_with("Asking"))
    });
    assert!(notice.contains("not allowed") || notice.contains("no microphone"), "{notice}");
}

#[test]
fn a_persons_whisper_files_open_as_a_speech_model() {
    let browser = open_page();
    wait_for_run(&browser);
    let input = browser.by_test_id("open-model-input");
    // chromedriver hands files only to an input it can see.
    browser.execute("arguments[0].classList.remove('hidden');", vec![input.as_arg()]);
    let dir = model_dir("whisper-tiny-en");
    let paths: Vec<String> = ["model.bin", "config.json", "tokenizer.json"].iter().map(|f| dir.join(f).display().to_string()).collect();
    browser.type_text(&input, &paths.join("\n"));
    // The sample clip is transcribed by the person's model, as by the built-in one.
    let shown = wait_for_transcript(&browser, "The cat sat on the mat.");
    assert_eq!(shown, ids(&native("flite-cat")));
    let select = browser.by_test_id("model-select");
    assert_eq!(browser.property(&select, "value").as_deref(), Some("file:model"));
    assert_eq!(browser.find_all("[data-testid=audio-input]").len(), 1, "the audio panel replaces the text box");
}
