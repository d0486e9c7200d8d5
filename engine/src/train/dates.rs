//! Dates in the surface forms people write, each mapped character by character to ISO 8601
//! ("Saturday, December 5, 2026" → "2026-12-05"): the data of the dates models, generated.
//!
//! Month and weekday names are glibc's locale data (CLDR-derived, through `pure-rust-locales`),
//! English first. Every example knows where its year, month and day are written in the text,
//! so a trained model's alignment can be checked field by field.

use std::ops::Range;

use pure_rust_locales::{locale_match, Locale};

use super::seeded::Seeded;

/// A day of the Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    pub year: i32,
    pub month: u32, // 1..=12
    pub day: u32,   // 1..=31
}

impl Date {
    /// Days since 1970-01-01 (Hinnant's `days_from_civil`).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let month = i64::from(self.month);
        let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` after 1970-01-01 (Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Self { year: (year_of_era + era * 400 + i64::from(month <= 2)) as i32, month, day }
    }

    /// 0 for Sunday (1970-01-01 was a Thursday).
    pub fn weekday(self) -> usize {
        (self.days() + 4).rem_euclid(7) as usize
    }

    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The surface forms of a date, as "5 December 2026" is to each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    DayMonthYear,        // 5 December 2026
    MonthDayYear,        // December 5, 2026
    DayShortMonthYear,   // 5 Dec 2026
    ShortMonthDayYear,   // Dec 5 2026
    Slashes,             // 05/12/2026 (day/month/year)
    Dots,                // 5.12.2026
    WeekdayMonthDayYear, // Saturday, December 5, 2026
    ShortWeekdayDayYear, // Sat 5 Dec 2026
    OrdinalOf,           // 5th of December 2026
    Iso,                 // 2026-12-05
}

pub const FORMS: [Form; 10] = [
    Form::DayMonthYear,
    Form::MonthDayYear,
    Form::DayShortMonthYear,
    Form::ShortMonthDayYear,
    Form::Slashes,
    Form::Dots,
    Form::WeekdayMonthDayYear,
    Form::ShortWeekdayDayYear,
    Form::OrdinalOf,
    Form::Iso,
];

/// The first and last days the generator writes: 1950-01-01 to 2049-12-31.
pub const FIRST_DAY: i64 = -7305;
pub const LAST_DAY: i64 = 29_219;

/// One date written in one form: the text, its ISO form, and the characters of the text that
/// write the year, the month and the day (in that order, as the ISO form does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub iso: String,
    pub fields: [Range<usize>; 3],
}

/// Which field of the ISO form character `i` writes: 0 year, 1 month, 2 day, None for a hyphen.
pub fn iso_field(i: usize) -> Option<usize> {
    match i {
        0..=3 => Some(0),
        5..=6 => Some(1),
        8..=9 => Some(2),
        _ => None,
    }
}

/// The names of months and weekdays in one language.
pub struct Names {
    months: &'static [&'static str],
    short_months: &'static [&'static str],
    weekdays: &'static [&'static str],
    short_weekdays: &'static [&'static str],
}

impl Names {
    pub fn english() -> Self {
        Self {
            months: locale_match!(Locale::en_US => LC_TIME::MON),
            short_months: locale_match!(Locale::en_US => LC_TIME::ABMON),
            weekdays: locale_match!(Locale::en_US => LC_TIME::DAY),
            short_weekdays: locale_match!(Locale::en_US => LC_TIME::ABDAY),
        }
    }

    /// Every character the forms can write, sorted: a dates model's source alphabet.
    pub fn alphabet(&self) -> Vec<char> {
        let names = [self.months, self.short_months, self.weekdays, self.short_weekdays].concat();
        let mut chars: Vec<char> = names.iter().flat_map(|n| n.chars()).chain("0123456789 ,./-thsndrof".chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        chars
    }

    /// `date` written in `form`.
    pub fn write(&self, date: Date, form: Form) -> Example {
        let Date { year, month, day } = date;
        let month_name = self.months[month as usize - 1];
        let short_month = self.short_months[month as usize - 1];
        let (day_text, year_text) = (day.to_string(), year.to_string());
        let mut text = Writer::default();
        // Each form's pieces in order; the spans of its year, month and day.
        let (y, m, d) = match form {
            Form::DayMonthYear => {
                let d = text.then(&day_text);
                let m = text.with(" ", month_name);
                (text.with(" ", &year_text), m, d)
            }
            Form::MonthDayYear => {
                let m = text.then(month_name);
                let d = text.with(" ", &day_text);
                (text.with(", ", &year_text), m, d)
            }
            Form::DayShortMonthYear => {
                let d = text.then(&day_text);
                let m = text.with(" ", short_month);
                (text.with(" ", &year_text), m, d)
            }
            Form::ShortMonthDayYear => {
                let m = text.then(short_month);
                let d = text.with(" ", &day_text);
                (text.with(" ", &year_text), m, d)
            }
            Form::Slashes => {
                let d = text.then(&format!("{day:02}"));
                let m = text.with("/", &format!("{month:02}"));
                (text.with("/", &year_text), m, d)
            }
            Form::Dots => {
                let d = text.then(&day_text);
                let m = text.with(".", &month.to_string());
                (text.with(".", &year_text), m, d)
            }
            Form::WeekdayMonthDayYear => {
                text.then(self.weekdays[date.weekday()]);
                let m = text.with(", ", month_name);
                let d = text.with(" ", &day_text);
                (text.with(", ", &year_text), m, d)
            }
            Form::ShortWeekdayDayYear => {
                text.then(self.short_weekdays[date.weekday()]);
                let d = text.with(" ", &day_text);
                let m = text.with(" ", short_month);
                (text.with(" ", &year_text), m, d)
            }
            Form::OrdinalOf => {
                let d = text.then(&day_text);
                text.then(ordinal_suffix(day));
                let m = text.with(" of ", month_name);
                (text.with(" ", &year_text), m, d)
            }
            Form::Iso => {
                let y = text.then(&format!("{year:04}"));
                let m = text.with("-", &format!("{month:02}"));
                (y, m, text.with("-", &format!("{day:02}")))
            }
        };
        Example { text: text.text, iso: date.iso(), fields: [y, m, d] }
    }
}

/// English ordinals: 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, 22nd, 23rd, 31st.
fn ordinal_suffix(day: u32) -> &'static str {
    match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// A text being written, counting characters (not bytes) for the fields' spans.
#[derive(Default)]
struct Writer {
    text: String,
    chars: usize,
}

impl Writer {
    /// Appends `piece`; its span.
    fn then(&mut self, piece: &str) -> Range<usize> {
        let start = self.chars;
        self.text.push_str(piece);
        self.chars += piece.chars().count();
        start..self.chars
    }

    /// Appends `separator` then `piece`; the piece's span.
    fn with(&mut self, separator: &str, piece: &str) -> Range<usize> {
        self.then(separator);
        self.then(piece)
    }
}

/// Whether the day `days` after 1970-01-01 is kept from training, for measuring: one in ten,
/// every tenth day, so the held-out dates cover every year, month, day and weekday.
pub fn is_held_out(days: i64) -> bool {
    days.rem_euclid(10) == 3
}

/// Draws examples: a uniform day of 1950-2049 (of the training days, or of the held-out days)
/// in a uniform form.
pub struct DateDraws {
    names: Names,
    rng: Seeded,
}

impl DateDraws {
    pub fn new(seed: u64) -> Self {
        Self { names: Names::english(), rng: Seeded::new(seed) }
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn draw(&mut self, held_out: bool) -> Example {
        loop {
            let days = FIRST_DAY + self.rng.below((LAST_DAY - FIRST_DAY + 1) as usize) as i64;
            if is_held_out(days) == held_out {
                let form = FORMS[self.rng.below(FORMS.len())];
                return self.names.write(Date::from_days(days), form);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_round_trips_and_knows_its_weekdays() {
        assert_eq!(Date { year: 1970, month: 1, day: 1 }.days(), 0);
        assert_eq!(Date { year: 1950, month: 1, day: 1 }.days(), FIRST_DAY);
        assert_eq!(Date { year: 2049, month: 12, day: 31 }.days(), LAST_DAY);
        for days in FIRST_DAY..=LAST_DAY {
            assert_eq!(Date::from_days(days).days(), days);
        }
        // 5 December 2026 is a Saturday; 29 February 2000 existed, 1900's did not.
        assert_eq!(Date { year: 2026, month: 12, day: 5 }.weekday(), 6);
        assert_eq!(Date::from_days(Date { year: 2000, month: 2, day: 29 }.days()).day, 29);
        assert_eq!(Date::from_days(Date { year: 1900, month: 2, day: 28 }.days() + 1), Date { year: 1900, month: 3, day: 1 });
    }

    #[test]
    fn every_form_writes_the_issues_example_and_marks_its_fields() {
        let names = Names::english();
        let date = Date { year: 2026, month: 12, day: 5 };
        let written: Vec<String> = FORMS.iter().map(|&form| names.write(date, form).text).collect();
        let expected = [
            "5 December 2026",
            "December 5, 2026",
            "5 Dec 2026",
            "Dec 5 2026",
            "05/12/2026",
            "5.12.2026",
            "Saturday, December 5, 2026",
            "Sat 5 Dec 2026",
            "5th of December 2026",
            "2026-12-05",
        ];
        assert_eq!(written, expected);
        let example = names.write(date, Form::WeekdayMonthDayYear);
        let field = |i: usize| example.text.chars().skip(example.fields[i].start).take(example.fields[i].len()).collect::<String>();
        assert_eq!((field(0), field(1), field(2)), ("2026".into(), "December".into(), "5".into()));
        assert_eq!(example.iso, "2026-12-05");
        let ordinals: Vec<&str> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31].into_iter().map(ordinal_suffix).collect();
        assert_eq!(ordinals, ["st", "nd", "rd", "th", "th", "th", "th", "st", "nd", "rd", "st"]);
    }

    #[test]
    fn draws_are_seeded_and_keep_the_held_out_days_apart() {
        let mut draws = DateDraws::new(1);
        let first: Vec<Example> = (0..50).map(|_| draws.draw(false)).collect();
        let mut again = DateDraws::new(1);
        assert_eq!(first, (0..50).map(|_| again.draw(false)).collect::<Vec<_>>());
        let days = |e: &Example| {
            let p: Vec<i64> = e.iso.split('-').map(|x| x.parse().unwrap()).collect();
            Date { year: p[0] as i32, month: p[1] as u32, day: p[2] as u32 }.days()
        };
        assert!(first.iter().all(|e| !is_held_out(days(e))));
        assert!((0..50).map(|_| draws.draw(true)).all(|e| is_held_out(days(&e))));
        let alphabet = draws.names().alphabet();
        assert!(first.iter().all(|e| e.text.chars().all(|c| alphabet.contains(&c))), "{alphabet:?}");
    }
}
