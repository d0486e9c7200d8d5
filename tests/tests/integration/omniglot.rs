//! Omniglot as the project keeps it (assets/data/omniglot, scripts/omniglot_compact.py): every
//! drawing read, the counts and the ink its README states (which the script measured in
//! Python), and the 20 one-shot runs whole.

use engine::train::omniglot::{Omniglot, SIDE};

fn omniglot() -> Omniglot {
    let folder = attnscope_tests::root().join("assets/data/omniglot");
    let read = |name: &str| std::fs::read(folder.join(name)).unwrap();
    Omniglot::from_files(&read("index.json"), &read("images.bin.gz")).unwrap()
}

#[test]
fn every_drawing_and_run_is_there_with_the_ink_the_script_measured() {
    let omniglot = omniglot();
    // 2,720 and 3,120 background drawings, then 20 runs of 40.
    assert_eq!(omniglot.len(), 2720 + 3120 + 800);
    let characters: usize = omniglot.background.iter().map(|a| a.characters.len()).sum();
    assert_eq!((omniglot.background.len(), characters), (10, 136 + 156));
    assert!(omniglot.background.iter().flat_map(|a| &a.characters).all(|c| c.count == 20));
    assert_eq!(omniglot.runs.len(), 20);
    for run in &omniglot.runs {
        assert_eq!((run.training.len(), run.test.len()), (20, 20));
        assert!(run.training.iter().chain(&run.test).all(|&i| i >= 5840), "run {}: its drawings follow the background's", run.run);
    }
    // The README's measure: 16 to 184 pixels of ink a drawing, 71 the median.
    let mut ink: Vec<usize> = (0..omniglot.len()).map(|i| omniglot.ink(i)).collect();
    ink.sort_unstable();
    assert_eq!((ink[0], ink[ink.len() - 1], ink[ink.len() / 2]), (16, 184, 71));
    assert_eq!(omniglot.pixels(0).len(), SIDE * SIDE);
    // Greek and Latin are in both small sets, drawing for drawing (the README says so).
    let greek: Vec<_> = omniglot.background.iter().filter(|a| a.alphabet == "Greek").collect();
    assert_eq!(greek.len(), 2);
    let (a, b) = (&greek[0].characters[0], &greek[1].characters[0]);
    assert_eq!(omniglot.pixels(a.first), omniglot.pixels(b.first));
}

/// The picture embedding the SNAIL reads through, pre-trained as a classifier of the
/// background characters (each drawing moved by up to 2 pixels each way, afresh each time):
/// it classifies their held-out drawings far above chance, and a nearest neighbour in it
/// reads the one-shot runs' new alphabets far better than one in raw pixels. Measured on seed
/// 1 after 1,500 batches of 64: 48.2% of the 968 held-out drawings of 242 characters (chance
/// 0.4%; 29.2% without the moves); one-shot 20-way 46.8% embedded against 21.0% in pixels
/// (chance 5%). The bounds leave room for another machine's order of summing, which moves a
/// training's path but not how far it gets.
#[test]
fn a_classifier_of_the_background_characters_embeds_new_alphabets_better_than_pixels() {
    use engine::train::character_embedding::{one_shot_accuracy, pictures, EmbeddingTraining};
    let omniglot = omniglot();
    let pixels = one_shot_accuracy(&omniglot, |d| Ok(pictures(&omniglot, d)?.to_vec2()?)).unwrap();
    let mut training = EmbeddingTraining::new(&omniglot, 1).unwrap();
    for _ in 0..1500 {
        training.step(&omniglot).unwrap();
    }
    let held_out = training.held_out_accuracy(&omniglot).unwrap();
    let embedded = one_shot_accuracy(&omniglot, |d| training.embeddings(&omniglot, d)).unwrap();
    assert!(held_out > 0.35, "{held_out} of held-out drawings classified");
    assert!((0.15..0.3).contains(&pixels), "pixels' nearest neighbour: {pixels}");
    assert!(embedded >= pixels + 0.15, "one-shot: embedded {embedded} against pixels {pixels}");
}
