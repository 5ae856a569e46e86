//! Durations as users type them in `/jit` (`90s`, `15m`, `1h30m`) and as jitpe writes them back.
//!
//! The grammar is deliberately strict: whole positive numbers with the units `h`, `m` and `s`, in
//! that order, each at most once, no spaces. Anything looser (`1.5h`, `15`, `1d`) would make
//! `request debug shop 15 minutes please` guess, and a wrong guess grants the wrong access time.
//! Plain integer seconds are enough arithmetic here, so no time crate is needed.

use std::time::Duration;

use super::ids::quote;

/// The longest duration the grammar accepts, whatever a role allows: 30 days.
///
/// Role maxima are checked by the policy; this bound only keeps numbers sane.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * DAY);

const DAY: u64 = 24 * 60 * 60;

/// Units in the only order they may appear, with their length in seconds.
const UNITS: [(char, u64); 3] = [('h', 3600), ('m', 60), ('s', 1)];

/// A duration that is not written the way jitpe reads them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given where a duration was expected.
    #[error("missing duration: write it like 90s, 15m or 1h30m")]
    Empty,
    /// A number has no unit after it (`15`, `1h30`).
    #[error(
        "{} has a number without a unit: add h, m or s, and write it like 90s, 15m or 1h30m",
        quote(input)
    )]
    MissingUnit { input: String },
    /// A letter that is not `h`, `m` or `s` (`1d`, `15x`, `15M`).
    #[error(
        "{} uses the unknown unit `{unit}`: only h, m and s (lowercase) exist, so write it like \
         90s, 15m or 1h30m (a day is 24h)",
        quote(input)
    )]
    UnknownUnit { input: String, unit: char },
    /// Anything else that is not `<n>h<n>m<n>s` (`1.5h`, `m`, `-5m`, `1m1h`, `1h1h`).
    #[error(
        "{} is not a duration: use whole numbers with the units h, m and s in that order, each at \
         most once and without spaces; write it like 90s, 15m or 1h30m",
        quote(input)
    )]
    Malformed { input: String },
    /// A part is zero (`0m`, `1h0m`).
    #[error(
        "{} contains a zero: leave out zero parts and write it like 90s, 15m or 1h30m",
        quote(input)
    )]
    Zero { input: String },
    /// Longer than [`MAX_DURATION`], including numbers too large to compute.
    #[error(
        "{} is longer than the 30-day limit (720h): write it like 90s, 15m or 1h30m",
        quote(input)
    )]
    TooLong { input: String },
}

/// Parses `90s`, `15m`, `1h30m`, `2h`, `1h5m30s`: units h, m, s in that order, each at most once,
/// positive integers, total at most 30 days.
///
/// Leading zeros are accepted (`05m` is 5 minutes); [`format_duration`] never writes them.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let input = || s.to_owned();
    let mut total: u64 = 0;
    let mut rest = s;
    // Units still allowed: shrinks past each unit used, which enforces order and uniqueness.
    let mut allowed = &UNITS[..];
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Malformed { input: input() });
        }
        let (number, after) = rest.split_at(digits);
        let Some(unit) = after.chars().next() else {
            return Err(DurationError::MissingUnit { input: input() });
        };
        let Some(index) = allowed.iter().position(|(u, _)| *u == unit) else {
            return Err(misplaced_unit(s, unit));
        };
        // Only digits remain, so parsing fails only on overflow.
        let n: u64 = number
            .parse()
            .map_err(|_| DurationError::TooLong { input: input() })?;
        if n == 0 {
            return Err(DurationError::Zero { input: input() });
        }
        total = n
            .checked_mul(allowed[index].1)
            .and_then(|part| total.checked_add(part))
            .filter(|t| *t <= MAX_DURATION.as_secs())
            .ok_or_else(|| DurationError::TooLong { input: input() })?;
        allowed = &allowed[index + 1..];
        rest = &after[unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// The error for a character after a number that is not an allowed unit at that point.
fn misplaced_unit(input: &str, unit: char) -> DurationError {
    let input = input.to_owned();
    let known = UNITS.iter().any(|(u, _)| *u == unit);
    if !known && unit.is_alphabetic() {
        DurationError::UnknownUnit { input, unit }
    } else {
        // A known unit out of order or repeated, or punctuation such as `.` or a space.
        DurationError::Malformed { input }
    }
}

/// Compact form used in messages: 5400s -> `1h30m`, 90s -> `1m30s`, 3600s -> `1h`.
///
/// Hours are not folded into days (`720h`), so the output always parses back with
/// [`parse_duration`]. Sub-second parts are dropped; zero is written `0s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let parts = [
        (secs / 3600, 'h'),
        (secs % 3600 / 60, 'm'),
        (secs % 60, 's'),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn well_formed_durations_parse_to_seconds() {
        let cases = [
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("1h30m", 5400),
            ("1h5m30s", 3930),
            ("1m30s", 90),
            ("1h1s", 3601),
            ("05m", 300),
            ("720h", 30 * DAY),
            ("719h59m60s", 30 * DAY),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(secs(expected)), "{input}");
        }
    }

    #[test]
    fn malformed_durations_get_the_error_that_explains_them() {
        use DurationError as E;
        type Make = fn(String) -> DurationError;
        let cases: [(&str, Make); 16] = [
            ("15", |input| E::MissingUnit { input }),
            ("1h30", |input| E::MissingUnit { input }),
            ("1.5h", |input| E::Malformed { input }),
            ("m", |input| E::Malformed { input }),
            ("15 m", |input| E::Malformed { input }),
            ("-5m", |input| E::Malformed { input }),
            ("+5m", |input| E::Malformed { input }),
            ("1m1h", |input| E::Malformed { input }),
            ("1h1h", |input| E::Malformed { input }),
            ("1h ", |input| E::Malformed { input }),
            ("0m", |input| E::Zero { input }),
            ("1h0m", |input| E::Zero { input }),
            ("720h1s", |input| E::TooLong { input }),
            ("721h", |input| E::TooLong { input }),
            ("5124095576030432h", |input| E::TooLong { input }),
            ("99999999999999999999s", |input| E::TooLong { input }),
        ];
        for (input, make) in cases {
            assert_eq!(
                parse_duration(input),
                Err(make(input.to_owned())),
                "{input}"
            );
        }
        for (input, unit) in [("1d", 'd'), ("15x", 'x'), ("15M", 'M'), ("15é", 'é')] {
            let expected = E::UnknownUnit {
                input: input.to_owned(),
                unit,
            };
            assert_eq!(parse_duration(input), Err(expected), "{input}");
        }
        assert_eq!(parse_duration(""), Err(E::Empty));
    }

    #[test]
    fn every_error_message_shows_the_right_form() {
        for input in ["", "15", "1d", "1.5h", "0m", "721h"] {
            let msg = parse_duration(input).expect_err(input).to_string();
            assert!(msg.contains("write it like 90s, 15m or 1h30m"), "{msg}");
        }
    }

    #[test]
    fn durations_format_compactly() {
        let cases = [
            (5400, "1h30m"),
            (90, "1m30s"),
            (3600, "1h"),
            (59, "59s"),
            (3601, "1h1s"),
            (0, "0s"),
        ];
        for (input, expected) in cases {
            assert_eq!(format_duration(secs(input)), expected);
        }
        assert_eq!(format_duration(MAX_DURATION), "720h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s");
    }

    proptest! {
        #[test]
        fn formatted_durations_parse_back(s in 1..=30 * DAY) {
            prop_assert_eq!(parse_duration(&format_duration(secs(s))), Ok(secs(s)));
        }

        #[test]
        fn parsing_never_panics(input in any::<String>()) {
            let _ = parse_duration(&input);
        }

        #[test]
        fn parsing_duration_shaped_junk_never_panics(input in "[0-9hms.+ -]{0,24}") {
            let _ = parse_duration(&input);
        }
    }
}
