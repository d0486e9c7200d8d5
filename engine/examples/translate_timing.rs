use std::time::Instant;
fn main() {
    let dir = std::path::Path::new("assets/models/en-pt");
    let t = engine::translator::Translator::from_dir("en-pt", dir).unwrap();
    let text = "The old man walked slowly along the quiet river every morning, watching the birds and thinking about his long life.";
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut times = vec![];
    for _ in 0..runs {
        let s = Instant::now();
        let r = t.translate(text, 512, true).unwrap();
        times.push(s.elapsed().as_secs_f64() * 1000.0);
        if times.len() == 1 { eprintln!("{:?} src {} tgt {}", r.translation.as_ref().map(|t| t.text.clone()), r.sequences[0].tokens.len(), r.sequences[1].tokens.len()); }
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.2} ms", times[times.len()/2]);
}
