//! Stories in the style of the bAbI tasks (Weston et al. 2015), generated here from the tasks'
//! descriptions (the original generator and its data are not used): four people move between
//! six places and pick up and put down three things, and a question asks where someone or
//! something is. Each story knows the sentences that answer it (its supporting facts), so a
//! memory network's hops can be checked against them.
//!
//! Task 1, a single supporting fact: "Where is Mary?", answered by Mary's last move.
//! Task 2, two supporting facts: "Where is the football?", answered by who last had it and
//! where that person last went while having it.
//!
//! One story in five (by a hash of its text) is never drawn for training: held-out stories are
//! stories the training never saw.

use super::seeded::Seeded;

pub const ACTORS: [&str; 4] = ["Mary", "John", "Daniel", "Sandra"];
pub const LOCATIONS: [&str; 6] = ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"];
pub const OBJECTS: [&str; 3] = ["apple", "football", "milk"];
const MOVES: [&str; 5] = ["moved to", "went to", "journeyed to", "travelled to", "went back to"];
/// Each followed by "the <object> there".
const GETS: [&str; 4] = ["got", "grabbed", "picked up", "took"];
const DROPS: [&str; 4] = ["dropped", "discarded", "left", "put down"];

/// Every word the stories use, lower case, the empty word `<nil>` first (id 0): a memory
/// network's vocabulary.
pub const WORDS: [&str; 34] = [
    "<nil>",
    "mary",
    "john",
    "daniel",
    "sandra",
    "bathroom",
    "bedroom",
    "garden",
    "hallway",
    "kitchen",
    "office",
    "apple",
    "football",
    "milk",
    "moved",
    "went",
    "journeyed",
    "travelled",
    "back",
    "to",
    "the",
    "got",
    "grabbed",
    "picked",
    "up",
    "took",
    "there",
    "dropped",
    "discarded",
    "left",
    "put",
    "down",
    "where",
    "is",
];

/// The words of a sentence: lower case, split at every character that is not a letter.
pub fn words(sentence: &str) -> Vec<String> {
    sentence.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Which of the tasks a story is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// "Where is Mary?": one supporting fact.
    #[serde(rename = "babi-1")]
    SingleFact,
    /// "Where is the football?": two supporting facts.
    #[serde(rename = "babi-2")]
    TwoFacts,
}

impl Task {
    pub const BOTH: [Task; 2] = [Task::SingleFact, Task::TwoFacts];

    /// The task's number in the bAbI set.
    pub fn number(self) -> u8 {
        match self {
            Self::SingleFact => 1,
            Self::TwoFacts => 2,
        }
    }

    pub fn from_number(number: u8) -> Option<Self> {
        Self::BOTH.into_iter().find(|t| t.number() == number)
    }

    /// The name a trained network's config.json and the page give it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SingleFact => "babi-1",
            Self::TwoFacts => "babi-2",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::BOTH.into_iter().find(|t| t.name() == name)
    }

    /// How many statements a story of this task holds, at least and at most. Task 1 asks
    /// after 2 to 10 as bAbI's stories of five questions do; task 2's answers lie further
    /// back, among more distractions.
    fn statements(self) -> (usize, usize) {
        match self {
            Self::SingleFact => (2, 10),
            Self::TwoFacts => (4, 20),
        }
    }
}

/// One story: its statements, the question and its answer, and the statements (by index)
/// that answer it.
#[derive(Clone, Debug, PartialEq)]
pub struct Story {
    pub statements: Vec<String>,
    pub question: String,
    pub answer: String,
    pub supporting: Vec<usize>,
}

impl Story {
    /// The story as a person types it: a statement a line, the question last.
    pub fn text(&self) -> String {
        let mut lines = self.statements.clone();
        lines.push(self.question.clone());
        lines.join("\n")
    }

    /// Whether the story is one of those the training never draws (FNV-1a of its text, one
    /// in five).
    pub fn is_held_out(&self) -> bool {
        let hash = self.text().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        hash % 5 == 4
    }
}

/// Stories of one task drawn from a seed.
pub struct StoryDraws {
    rng: Seeded,
    task: Task,
}

impl StoryDraws {
    pub fn new(task: Task, seed: u64) -> Self {
        Self { rng: Seeded::new(seed), task }
    }

    /// The next story for training (`held_out` false) or of the held-out stories.
    pub fn draw(&mut self, held_out: bool) -> Story {
        loop {
            let story = match self.task {
                Task::SingleFact => self.single_fact(),
                Task::TwoFacts => self.two_facts(),
            };
            if let Some(story) = story.filter(|s| s.is_held_out() == held_out) {
                return story;
            }
        }
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.below(from.len())]
    }

    fn length(&mut self) -> usize {
        let (least, most) = self.task.statements();
        least + self.rng.below(most - least + 1)
    }

    fn single_fact(&mut self) -> Option<Story> {
        let mut statements = Vec::new();
        let mut last_move: [Option<(usize, &str)>; ACTORS.len()] = [None; ACTORS.len()];
        for i in 0..self.length() {
            let actor = self.rng.below(ACTORS.len());
            let (verb, place) = (self.pick(&MOVES), self.pick(&LOCATIONS));
            statements.push(format!("{} {verb} the {place}.", ACTORS[actor]));
            last_move[actor] = Some((i, place));
        }
        let moved: Vec<usize> = (0..ACTORS.len()).filter(|&a| last_move[a].is_some()).collect();
        let actor = moved[self.rng.below(moved.len())];
        let (fact, place) = last_move[actor]?;
        Some(Story { statements, question: format!("Where is {}?", ACTORS[actor]), answer: place.into(), supporting: vec![fact] })
    }

    /// People move, and pick up and put down things where they are; the question asks after
    /// a thing someone has had. Its answer: where its holder is (the pick-up and the holder's
    /// last move), or where it was put down (the drop and the holder's last move before it).
    fn two_facts(&mut self) -> Option<Story> {
        #[derive(Clone, Copy)]
        enum Whereabouts {
            Unknown,
            Held { by: usize, since: usize },
            Dropped { at: usize, drop: usize, moved: usize },
        }
        let mut statements = Vec::new();
        // Each person's place and the statement that put them there.
        let mut place: [Option<(usize, usize)>; ACTORS.len()] = [None; ACTORS.len()];
        let mut things = [Whereabouts::Unknown; OBJECTS.len()];
        for i in 0..self.length() {
            let actor = self.rng.below(ACTORS.len());
            let holding: Vec<usize> = (0..OBJECTS.len()).filter(|&o| matches!(things[o], Whereabouts::Held { by, .. } if by == actor)).collect();
            let here = place[actor];
            // Things lying where the person is, or never seen (they may be anywhere).
            let free: Vec<usize> = (0..OBJECTS.len())
                .filter(|&o| match things[o] {
                    Whereabouts::Unknown => true,
                    Whereabouts::Dropped { at, .. } => here.is_some_and(|(p, _)| p == at),
                    Whereabouts::Held { .. } => false,
                })
                .collect();
            let roll = self.rng.below(10);
            if here.is_some() && !free.is_empty() && roll < 3 {
                let thing = free[self.rng.below(free.len())];
                let verb = self.pick(&GETS);
                statements.push(format!("{} {verb} the {} there.", ACTORS[actor], OBJECTS[thing]));
                things[thing] = Whereabouts::Held { by: actor, since: i };
            } else if !holding.is_empty() && roll < 5 {
                let thing = holding[self.rng.below(holding.len())];
                let verb = self.pick(&DROPS);
                statements.push(format!("{} {verb} the {}.", ACTORS[actor], OBJECTS[thing]));
                let (at, moved) = here?; // a holder always has a place: pick-ups need one
                things[thing] = Whereabouts::Dropped { at, drop: i, moved };
            } else {
                let (verb, to) = (self.pick(&MOVES), self.rng.below(LOCATIONS.len()));
                statements.push(format!("{} {verb} the {}.", ACTORS[actor], LOCATIONS[to]));
                place[actor] = Some((to, i));
            }
        }
        let asked: Vec<usize> = (0..OBJECTS.len()).filter(|&o| !matches!(things[o], Whereabouts::Unknown)).collect();
        if asked.is_empty() {
            return None;
        }
        let thing = asked[self.rng.below(asked.len())];
        let (at, mut supporting) = match things[thing] {
            Whereabouts::Held { by, since } => {
                let (at, moved) = place[by]?;
                (at, vec![since, moved])
            }
            Whereabouts::Dropped { at, drop, moved } => (at, vec![moved, drop]),
            Whereabouts::Unknown => return None,
        };
        supporting.sort_unstable();
        Some(Story { statements, question: format!("Where is the {}?", OBJECTS[thing]), answer: LOCATIONS[at].into(), supporting })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays a task-2 story by hand-written rules on its words: who is where, who holds
    /// what, where each thing was put down.
    fn replayed_answer(story: &Story) -> Option<String> {
        let mut place = std::collections::HashMap::new();
        let mut holder = std::collections::HashMap::new();
        let mut lying = std::collections::HashMap::new();
        for statement in &story.statements {
            let w = words(statement);
            let (actor, last) = (w[0].clone(), w[w.len() - 1].clone());
            if LOCATIONS.contains(&last.as_str()) {
                place.insert(actor, last);
            } else if last == "there" {
                let thing = w[w.len() - 2].clone();
                lying.remove(&thing);
                holder.insert(thing, actor);
            } else {
                let thing = last;
                holder.remove(&thing);
                lying.insert(thing, place.get(&actor)?.clone());
            }
        }
        let asked = words(&story.question).pop()?;
        match holder.get(&asked) {
            Some(actor) => place.get(actor).cloned(),
            None => lying.get(&asked).cloned(),
        }
    }

    #[test]
    fn every_word_of_every_story_is_in_the_vocabulary() {
        for task in Task::BOTH {
            let mut draws = StoryDraws::new(task, 1);
            for _ in 0..500 {
                let story = draws.draw(false);
                for word in story.statements.iter().chain([&story.question]).flat_map(|s| words(s)) {
                    assert!(WORDS.contains(&word.as_str()), "`{word}` is not in the vocabulary");
                }
            }
        }
    }

    #[test]
    fn task_1_answers_are_the_asked_persons_last_move() {
        let mut draws = StoryDraws::new(Task::SingleFact, 3);
        for _ in 0..500 {
            let story = draws.draw(false);
            let asked = words(&story.question).pop().unwrap();
            let last = story.statements.iter().rposition(|s| words(s)[0] == asked).unwrap();
            assert_eq!(story.supporting, vec![last]);
            assert_eq!(words(&story.statements[last]).pop().unwrap(), story.answer);
            assert!((2..=10).contains(&story.statements.len()));
        }
    }

    #[test]
    fn task_2_answers_agree_with_a_replay_and_name_two_facts_about_the_thing_and_its_holder() {
        let mut draws = StoryDraws::new(Task::TwoFacts, 4);
        for _ in 0..500 {
            let story = draws.draw(false);
            assert_eq!(replayed_answer(&story).as_deref(), Some(story.answer.as_str()), "{}", story.text());
            let [first, second] = story.supporting[..] else { panic!("{:?}", story.supporting) };
            assert!(first < second && second < story.statements.len());
            let asked = words(&story.question).pop().unwrap();
            let about_thing = story.supporting.iter().filter(|&&i| words(&story.statements[i]).contains(&asked)).count();
            assert_eq!(about_thing, 1, "one fact says who had the {asked}: {}", story.text());
            let [a, b] = [first, second].map(|i| words(&story.statements[i])[0].clone());
            assert_eq!(a, b, "both facts are about the holder: {}", story.text());
        }
    }

    #[test]
    fn held_out_stories_are_never_drawn_for_training_and_draws_repeat_by_seed() {
        for task in Task::BOTH {
            let mut training = StoryDraws::new(task, 5);
            let mut held_out = StoryDraws::new(task, 5);
            let (drawn, kept): (Vec<Story>, Vec<Story>) = (0..400).map(|_| (training.draw(false), held_out.draw(true))).unzip();
            assert!(drawn.iter().all(|s| !s.is_held_out()) && kept.iter().all(Story::is_held_out));
            let again: Vec<Story> = {
                let mut draws = StoryDraws::new(task, 5);
                (0..400).map(|_| draws.draw(false)).collect()
            };
            assert_eq!(drawn, again);
            // Different stories, not a few repeated: task 1's shortest stories are 2 of
            // 4 × 5 × 6 statements.
            let distinct: std::collections::HashSet<String> = drawn.iter().map(Story::text).collect();
            assert!(distinct.len() > 350, "{task:?}: {} distinct of 400", distinct.len());
        }
    }
}
