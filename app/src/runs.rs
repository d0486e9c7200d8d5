//! Which runs the worker does, and when. A text runs as soon as it is typed if the
//! worker is free; while it is busy, only the newest text waits (a waiting one that a
//! newer text replaces is never run), so the maps follow the keyboard one run behind
//! at most, and no queue of stale texts builds up. Answers to anything but the runs
//! last sent are never shown.

use report::{Intervention, Mask};

use crate::protocol::ToWorker;

/// Everything one text's runs need.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    pub model: String,
    pub text: String,
    pub mask: Mask,
    pub max_tokens: usize,
    /// The layer whose raw scores come with the main run (the arithmetic view).
    pub scores_of_layer: Option<usize>,
    /// Whether the main run brings value norms (the value-weighted map).
    pub value_norms: bool,
    /// Whether the other mask runs too (the comparison).
    pub compare: bool,
    /// Heads to change in the main run; the unchanged run then comes back too (the bars'
    /// and the maps' before), under a number of its own.
    pub intervention: Option<Intervention>,
}

/// The runs in flight and the plan waiting for them.
#[derive(Debug, Default)]
pub struct Scheduler {
    last_run: u64,
    /// The latest main and comparison runs sent (0: none), and the main run's text.
    main: u64,
    compare: u64,
    /// The unchanged run beside a changed main run (0: none).
    unchanged: u64,
    main_text: String,
    probe: u64,
    effects: u64,
    whole_map: u64,
    /// Main and comparison runs sent and not yet answered.
    awaiting: Vec<u64>,
    waiting: Option<RunPlan>,
}

impl Scheduler {
    fn next(&mut self) -> u64 {
        self.last_run += 1;
        self.last_run
    }

    /// A text to run: the requests to send now, or none while earlier runs are in
    /// flight (the plan then waits, replacing any plan waiting before it).
    pub fn plan(&mut self, plan: RunPlan) -> Vec<ToWorker> {
        if self.awaiting.is_empty() {
            self.send(plan)
        } else {
            self.waiting = Some(plan);
            Vec::new()
        }
    }

    fn send(&mut self, plan: RunPlan) -> Vec<ToWorker> {
        let RunPlan { model, text, mask, max_tokens, scores_of_layer, value_norms, compare, intervention } = plan;
        // The main run asks for raw scores, norms and changes; the other runs of the same
        // text for none.
        let run_of = |run, mask, max_tokens, scores_of_layer, value_norms, intervention, unchanged| ToWorker::Run {
            run,
            model: model.clone(),
            text: text.clone(),
            mask,
            max_tokens,
            scores_of_layer,
            value_norms,
            reuse_prefix: true,
            intervention,
            unchanged,
        };
        self.main = self.next();
        self.main_text = text.clone();
        self.compare = if compare { self.next() } else { 0 };
        // A changed run's answer brings the unchanged run it started from, numbered apart.
        let changed = intervention.as_ref().is_some_and(|i| !i.is_empty());
        self.unchanged = if changed { self.next() } else { 0 };
        let unchanged = changed.then_some(self.unchanged);
        // First, so the map in view comes back first.
        let mut requests = vec![run_of(self.main, mask, max_tokens, scores_of_layer, value_norms, intervention.filter(|_| changed), unchanged)];
        if compare {
            // The comparison is always a causal mask (the one chosen) against none, of a
            // text the page keeps whole (a long text's maps are pooled: nothing to compare).
            let other = if mask.is_causal() { Mask::None } else { Mask::Causal };
            requests.push(run_of(self.compare, other, max_tokens.min(crate::WHOLE_MAX_TOKENS), None, false, None, None));
        }
        self.awaiting = [self.main, self.compare, self.unchanged].into_iter().filter(|&r| r != 0).collect();
        requests
    }

    /// An answer (a report or a failure) to `run` came: the requests to send now,
    /// the waiting plan's once nothing else is awaited.
    pub fn answered(&mut self, run: u64) -> Vec<ToWorker> {
        self.awaiting.retain(|&r| r != run);
        match self.waiting.take() {
            Some(plan) if self.awaiting.is_empty() => self.send(plan),
            waiting => {
                self.waiting = waiting;
                Vec::new()
            }
        }
    }

    /// The worker said `run` is a long text's, run a layer at a time: it answers other
    /// requests between layers, and a run of another text ends it, so the waiting text is
    /// sent now rather than after it.
    pub fn attending(&mut self, run: u64) -> Vec<ToWorker> {
        if !self.awaiting.contains(&run) {
            return Vec::new();
        }
        self.answered(run)
    }

    /// The text is gone (emptied, or another model is loading): the runs in flight
    /// still count as busy, but their answers are no longer shown, and nothing waits.
    pub fn withdraw(&mut self) {
        self.main = 0;
        self.compare = 0;
        self.unchanged = 0;
        self.waiting = None;
    }

    /// The worker failed outside any run (a crash): nothing it was doing will answer.
    pub fn lost(&mut self) -> Vec<ToWorker> {
        self.awaiting.clear();
        self.waiting.take().map(|plan| self.send(plan)).unwrap_or_default()
    }

    /// Numbers a run of a whole input (a sound to transcribe, a picture to look at), which
    /// becomes the main run: such an input runs when it arrives (a recording, a file), not
    /// per keystroke, so nothing is held back; the answer to an earlier one is no longer shown.
    /// With heads `changed`, the unchanged run beside it is numbered too.
    pub fn whole_input(&mut self, name: &str, changed: bool) -> (u64, Option<u64>) {
        self.main = self.next();
        self.main_text = name.to_string();
        self.compare = 0;
        self.unchanged = if changed { self.next() } else { 0 };
        self.waiting = None;
        self.awaiting = [self.main, self.unchanged].into_iter().filter(|&r| r != 0).collect();
        (self.main, changed.then_some(self.unchanged))
    }

    /// Numbers a probe run (probes are not held back: a person asks for them one at a time).
    pub fn probe(&mut self) -> u64 {
        self.probe = self.next();
        self.probe
    }

    /// Numbers a request for a head's whole map (the newest is the one shown).
    pub fn whole_map(&mut self) -> u64 {
        self.whole_map = self.next();
        self.whole_map
    }

    pub fn is_whole_map(&self, run: u64) -> bool {
        run == self.whole_map && run != 0
    }

    /// Numbers a sweep or an attribution (one at a time: a new one overtakes the one before).
    pub fn effects(&mut self) -> u64 {
        self.effects = self.next();
        self.effects
    }

    /// The sweep in flight, if any (0: none).
    pub fn current_effects(&self) -> u64 {
        self.effects
    }

    /// The sweep is over, stopped or overtaken.
    pub fn effects_ended(&mut self) {
        self.effects = 0;
    }

    pub fn is_effects(&self, run: u64) -> bool {
        run == self.effects && run != 0
    }
    pub fn is_unchanged(&self, run: u64) -> bool {
        run == self.unchanged && run != 0
    }
    pub fn is_main(&self, run: u64) -> bool {
        run == self.main && run != 0
    }
    pub fn is_compare(&self, run: u64) -> bool {
        run == self.compare && run != 0
    }
    pub fn is_probe(&self, run: u64) -> bool {
        run == self.probe && run != 0
    }

    /// The text of the latest main run sent.
    pub fn main_text(&self) -> &str {
        &self.main_text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str, compare: bool) -> RunPlan {
        RunPlan {
            model: "m".into(),
            text: text.into(),
            mask: Mask::Causal,
            max_tokens: 128,
            scores_of_layer: None,
            value_norms: false,
            compare,
            intervention: None,
        }
    }

    fn texts(requests: &[ToWorker]) -> Vec<(u64, String, Mask)> {
        requests
            .iter()
            .map(|r| match r {
                ToWorker::Run { run, text, mask, .. } => (*run, text.clone(), *mask),
                other => panic!("not a run: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_free_worker_runs_at_once_and_a_busy_one_gets_only_the_newest_text() {
        let mut s = Scheduler::default();
        assert_eq!(texts(&s.plan(plan("T", false))), [(1, "T".into(), Mask::Causal)]);
        // Typed on while run 1 computes: "Th" is superseded by "The" before it ever runs.
        assert!(s.plan(plan("Th", false)).is_empty());
        assert!(s.plan(plan("The", false)).is_empty());
        assert_eq!(s.main_text(), "T");
        assert_eq!(texts(&s.answered(1)), [(2, "The".into(), Mask::Causal)]);
        assert!(s.is_main(2) && !s.is_main(1));
        assert_eq!(s.main_text(), "The");
        assert!(s.answered(2).is_empty(), "nothing waits");
        assert_eq!(texts(&s.plan(plan("The c", false))), [(3, "The c".into(), Mask::Causal)]);
    }

    #[test]
    fn with_the_comparison_both_masks_must_answer_before_the_next_text() {
        let mut s = Scheduler::default();
        assert_eq!(texts(&s.plan(plan("a", true))), [(1, "a".into(), Mask::Causal), (2, "a".into(), Mask::None)]);
        assert!(s.is_compare(2));
        assert!(s.plan(plan("ab", true)).is_empty());
        assert!(s.answered(1).is_empty(), "the comparison is still out");
        assert_eq!(texts(&s.answered(2)).len(), 2);
        assert!(s.is_main(3) && s.is_compare(4));
    }

    #[test]
    fn a_withdrawn_text_is_not_shown_and_its_waiting_text_never_runs() {
        let mut s = Scheduler::default();
        s.plan(plan("a", true));
        s.plan(plan("ab", true));
        s.withdraw();
        assert!(!s.is_main(1) && !s.is_compare(2));
        assert!(s.answered(1).is_empty() && s.answered(2).is_empty(), "nothing waits");
        assert_eq!(texts(&s.plan(plan("x", false))), [(3, "x".into(), Mask::Causal)]);
    }

    #[test]
    fn a_transcription_is_the_main_run_and_replaces_the_one_before() {
        let mut s = Scheduler::default();
        let (first, _) = s.whole_input("the sample", false);
        let (second, _) = s.whole_input("your recording", false);
        assert!(s.is_main(second) && !s.is_main(first));
        assert_eq!(s.main_text(), "your recording");
        assert!(s.answered(second).is_empty());
        // With heads switched off, the unchanged transcription is numbered beside it.
        let (changed, unchanged) = s.whole_input("your recording", true);
        let unchanged = unchanged.expect("an unchanged run beside a changed one");
        assert!(s.is_main(changed) && s.is_unchanged(unchanged) && unchanged != changed);
        let (again, none) = s.whole_input("your recording", false);
        assert!(none.is_none() && !s.is_unchanged(unchanged) && s.is_main(again));
    }

    #[test]
    fn a_changed_run_brings_its_unchanged_run_and_both_must_answer() {
        let mut s = Scheduler::default();
        let changed = RunPlan { intervention: Some(report::Intervention::ablate(vec!["1.2".parse().unwrap()], report::Ablation::Zero)), ..plan("a", false) };
        let requests = s.plan(changed);
        // One request: the worker answers the unchanged run from the trace the changed one starts from.
        assert_eq!(texts(&requests), [(1, "a".into(), Mask::Causal)]);
        assert!(matches!(&requests[0], ToWorker::Run { intervention: Some(_), unchanged: Some(2), .. }));
        assert!(s.is_unchanged(2) && !s.is_main(2));
        assert!(s.plan(plan("ab", false)).is_empty());
        assert!(s.answered(1).is_empty(), "the unchanged run is still out");
        assert_eq!(texts(&s.answered(2)), [(3, "ab".into(), Mask::Causal)]);
        assert!(!s.is_unchanged(4), "a plan that changes nothing runs once");
        let nothing = RunPlan { intervention: Some(report::Intervention::default()), ..plan("abc", false) };
        s.answered(3);
        assert!(matches!(&s.plan(nothing)[..], [ToWorker::Run { intervention: None, unchanged: None, .. }]), "an empty intervention changes nothing");
    }

    #[test]
    fn a_long_texts_run_lets_the_next_text_go_at_once_and_the_comparison_stays_whole() {
        let mut s = Scheduler::default();
        let long = RunPlan { max_tokens: 4096, ..plan("long", true) };
        let requests = s.plan(long);
        assert!(matches!(&requests[..], [ToWorker::Run { max_tokens: 4096, .. }, ToWorker::Run { max_tokens: 128, .. }]), "{requests:?}");
        assert!(s.plan(plan("longer", false)).is_empty(), "waits while both are out");
        assert!(s.answered(2).is_empty(), "the main run is still out");
        // The worker says run 1 goes a layer at a time: the waiting text goes now.
        assert_eq!(texts(&s.attending(1)), [(3, "longer".into(), Mask::Causal)]);
        assert!(s.attending(1).is_empty(), "told again, nothing more to send");
        assert!(!s.is_main(1) && s.is_main(3));
    }

    #[test]
    fn a_crash_frees_the_queue_and_probes_are_numbered_apart() {
        let mut s = Scheduler::default();
        s.plan(plan("a", false));
        s.plan(plan("b", false));
        let probe = s.probe();
        assert!(s.is_probe(probe) && !s.is_main(probe));
        assert_eq!(texts(&s.lost()), [(3, "b".into(), Mask::Causal)]);
    }
}
