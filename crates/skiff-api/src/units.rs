//! Durations, byte sizes and CPU counts, parsed as Docker Compose parses them.
//!
//! * [`Duration`] — Go's `time.ParseDuration` syntax (`1m30s`, `1.5s`, `250ms`, `2h`), which is what
//!   Compose uses for `interval`, `stop_grace_period`, `delay`, …; serialized in the same syntax.
//! * [`ByteSize`] — docker/go-units' `RAMInBytes` syntax (`512m`, `1.5GiB`, `1g`, `2048`): the unit
//!   letters are binary multiples whatever the suffix (`1gb` is 1024³ bytes), as in Compose.
//!   Serialized as a number of bytes.
//! * [`Cpus`] — a decimal CPU count (`0.5`, `2`), kept in thousandths; serialized as a decimal string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration, size or CPU count did not parse. The message says what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("`{text}` is not a duration: use a number with a unit, such as `30s`, `1m30s`, `250ms` or `2h`")]
    Duration {
        /// The text that was given.
        text: String,
    },
    /// A duration without a unit (only `0` may go without one).
    #[error("`{text}` has no unit: write `{text}s` for seconds (units: ns, us, ms, s, m, h)")]
    DurationUnit {
        /// The text that was given.
        text: String,
    },
    /// A negative duration.
    #[error("`{text}` is negative: a duration must be zero or more")]
    NegativeDuration {
        /// The text that was given.
        text: String,
    },
    /// A duration that does not fit in 64 bits of nanoseconds (about 292 years).
    #[error("`{text}` is too long a duration")]
    DurationOverflow {
        /// The text that was given.
        text: String,
    },
    /// Not a byte size.
    #[error("`{text}` is not a size: use a number with an optional unit, such as `512m`, `1.5GiB` or `64k` (units: b, k, m, g, t, p)")]
    ByteSize {
        /// The text that was given.
        text: String,
    },
    /// A byte size that does not fit in 64 bits.
    #[error("`{text}` is too large a size")]
    ByteSizeOverflow {
        /// The text that was given.
        text: String,
    },
    /// Not a CPU count.
    #[error("`{text}` is not a CPU count: use a positive decimal such as `0.5` or `2`")]
    Cpus {
        /// The text that was given.
        text: String,
    },
    /// A CPU count finer than a thousandth.
    #[error("`{text}` is finer than Skiff's precision of 0.001 CPU")]
    CpusPrecision {
        /// The text that was given.
        text: String,
    },
}

/// A span of time, as Compose writes it (`1m30s`). Nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: u64,
}

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MIN: u64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MIN;

impl Duration {
    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self { nanos }
    }

    /// A duration of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Self {
            nanos: millis.saturating_mul(NANOS_PER_MILLI),
        }
    }

    /// A duration of `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The same length as a `std::time::Duration`.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos)
    }

    /// Parses Go's duration syntax: one or more `<decimal><unit>` terms, units `ns`, `us` (or
    /// `µs`), `ms`, `s`, `m`, `h`; `0` alone needs no unit. Negative durations are refused.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Duration {
            text: text.to_owned(),
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err());
        }
        if s.starts_with('-') {
            return Err(UnitError::NegativeDuration {
                text: text.to_owned(),
            });
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        if s == "0" {
            return Ok(Self::default());
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(UnitError::DurationUnit { text: s.to_owned() });
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let number = &rest[..num_len];
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let scale = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => NANOS_PER_MICRO,
                "ms" => NANOS_PER_MILLI,
                "s" => NANOS_PER_SEC,
                "m" => NANOS_PER_MIN,
                "h" => NANOS_PER_HOUR,
                _ => return Err(err()),
            };
            let (int, frac) = split_decimal(number).ok_or_else(err)?;
            let overflow = || UnitError::DurationOverflow {
                text: text.to_owned(),
            };
            let int: u64 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| overflow())?
            };
            // A u64 times a unit fits in u128, and the fraction adds less than one unit.
            let mut term = u128::from(int) * u128::from(scale);
            // Fractional part: digits beyond nanosecond precision are dropped, as Go does.
            let mut place = u128::from(scale);
            for digit in frac.bytes() {
                place /= 10;
                term += u128::from(digit - b'0') * place;
            }
            total = total
                .checked_add(term)
                .filter(|t| *t <= u128::from(u64::MAX))
                .ok_or_else(overflow)?;
        }
        Ok(Self {
            nanos: total as u64,
        })
    }
}

/// Splits `12.5` into (`12`, `5`); refuses an empty number, two dots or `.` alone.
fn split_decimal(number: &str) -> Option<(&str, &str)> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((int, frac))
}

impl fmt::Display for Duration {
    /// Go's `Duration.String()` form: `1h2m3.5s`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0s");
        }
        if n < NANOS_PER_SEC {
            let (unit, scale) = if n < NANOS_PER_MICRO {
                ("ns", 1)
            } else if n < NANOS_PER_MILLI {
                ("us", NANOS_PER_MICRO)
            } else {
                ("ms", NANOS_PER_MILLI)
            };
            return write_decimal(f, n / scale, n % scale, scale).and_then(|()| f.write_str(unit));
        }
        let hours = n / NANOS_PER_HOUR;
        let minutes = (n % NANOS_PER_HOUR) / NANOS_PER_MIN;
        let rem = n % NANOS_PER_MIN;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_decimal(f, rem / NANOS_PER_SEC, rem % NANOS_PER_SEC, NANOS_PER_SEC)?;
        f.write_str("s")
    }
}

/// Writes `int.frac` with the fraction's trailing zeros trimmed (`frac` is out of `scale`).
fn write_decimal(f: &mut fmt::Formatter<'_>, int: u64, frac: u64, scale: u64) -> fmt::Result {
    write!(f, "{int}")?;
    if frac == 0 {
        return Ok(());
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

impl FromStr for Duration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A number of bytes, as Compose writes memory sizes (`512m`, `1.5GiB`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses go-units' `RAMInBytes` syntax: a decimal, an optional space, an optional unit letter
    /// (`b k m g t p`, any case) optionally followed by `i` and/or `b`. Units are powers of 1024.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let err = || UnitError::ByteSize {
            text: text.to_owned(),
        };
        let s = text.trim();
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(num_len);
        let (int, frac) = split_decimal(number).ok_or_else(err)?;
        if int.is_empty() {
            return Err(err());
        }
        let suffix = suffix
            .strip_prefix(' ')
            .unwrap_or(suffix)
            .to_ascii_lowercase();
        let mut chars = suffix.chars();
        let shift = match chars.next() {
            None => 0,
            Some('b') if chars.as_str().is_empty() => 0,
            Some('k') => 10,
            Some('m') => 20,
            Some('g') => 30,
            Some('t') => 40,
            Some('p') => 50,
            Some(_) => return Err(err()),
        };
        match chars.as_str() {
            "" | "b" | "i" | "ib" => {}
            _ if shift == 0 => {}
            _ => return Err(err()),
        }
        let overflow = || UnitError::ByteSizeOverflow {
            text: text.to_owned(),
        };
        let scale: u128 = 1u128 << shift;
        let int: u128 = int.parse().map_err(|_| overflow())?;
        let mut total = int.checked_mul(scale).ok_or_else(overflow)?;
        let mut place = scale * 1_000_000_000_000_000_000; // fraction computed exactly, then floored
        let mut frac_total: u128 = 0;
        for digit in frac.bytes().take(18) {
            place /= 10;
            frac_total += u128::from(digit - b'0') * place;
        }
        total += frac_total / 1_000_000_000_000_000_000;
        u64::try_from(total).map(ByteSize).map_err(|_| overflow())
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly: `512MiB`, `1536KiB`, `100B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 5] = [
            ("PiB", 50),
            ("TiB", 40),
            ("GiB", 30),
            ("MiB", 20),
            ("KiB", 10),
        ];
        for (name, shift) in UNITS {
            let scale = 1u64 << shift;
            if self.0 >= scale && self.0 % scale == 0 {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A CPU count in thousandths of a CPU (`0.5` is 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cpus {
    millis: u64,
}

impl Cpus {
    /// A count of `millis` thousandths of a CPU.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// The count in thousandths of a CPU.
    pub const fn millis(self) -> u64 {
        self.millis
    }

    /// Parses a non-negative decimal with at most three fractional digits (trailing zeros beyond
    /// that are fine): `0.5`, `2`, `1.25`, `.5`.
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Cpus {
            text: text.to_owned(),
        };
        let (int, frac) = split_decimal(text.trim()).ok_or_else(err)?;
        let frac = frac.trim_end_matches('0');
        if frac.len() > 3 {
            return Err(UnitError::CpusPrecision {
                text: text.to_owned(),
            });
        }
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let frac_millis: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().map_err(|_| err())?
        };
        int.checked_mul(1000)
            .and_then(|m| m.checked_add(frac_millis))
            .map(|millis| Self { millis })
            .ok_or_else(err)
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_decimal(f, self.millis / 1000, self.millis % 1000, 1000)
    }
}

impl FromStr for Cpus {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_go_does() {
        let cases = [
            ("0", 0),
            ("30s", 30 * NANOS_PER_SEC),
            ("1m30s", 90 * NANOS_PER_SEC),
            ("1.5s", 1_500 * NANOS_PER_MILLI),
            ("250ms", 250 * NANOS_PER_MILLI),
            ("2h", 2 * NANOS_PER_HOUR),
            (
                "1h2m3s4ms5us6ns",
                NANOS_PER_HOUR + 2 * NANOS_PER_MIN + 3 * NANOS_PER_SEC + 4_005_006,
            ),
            ("10µs", 10_000),
            (".5s", 500 * NANOS_PER_MILLI),
            ("+5s", 5 * NANOS_PER_SEC),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                Duration::parse(text),
                Ok(Duration::from_nanos(nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(matches!(
            Duration::parse("10"),
            Err(UnitError::DurationUnit { .. })
        ));
        assert!(matches!(
            Duration::parse("-1s"),
            Err(UnitError::NegativeDuration { .. })
        ));
        assert!(matches!(
            Duration::parse("99999999999h"),
            Err(UnitError::DurationOverflow { .. })
        ));
        for huge in [
            "1ns340282366920938463463374607431768211455ns",
            "94522879700260684295381835.9999999999999h",
            "18446744073709551615ns1ns",
        ] {
            assert!(
                matches!(
                    Duration::parse(huge),
                    Err(UnitError::DurationOverflow { .. })
                ),
                "{huge}"
            );
        }
        for bad in ["", "s", "1x", "1.2.3s", "1 s", "ten seconds", "1s2"] {
            assert!(
                matches!(Duration::parse(bad), Err(UnitError::Duration { .. })),
                "{bad}"
            );
        }
        let message = Duration::parse("10").unwrap_err().to_string();
        assert_eq!(
            message,
            "`10` has no unit: write `10s` for seconds (units: ns, us, ms, s, m, h)"
        );
    }

    #[test]
    fn durations_print_as_go_does_and_round_trip() {
        let cases = [
            (0, "0s"),
            (90 * NANOS_PER_SEC, "1m30s"),
            (1_500 * NANOS_PER_MILLI, "1.5s"),
            (250 * NANOS_PER_MILLI, "250ms"),
            (1_500, "1.5us"),
            (2 * NANOS_PER_HOUR, "2h0m0s"),
            (NANOS_PER_HOUR + 1, "1h0m0.000000001s"),
        ];
        for (nanos, text) in cases {
            let d = Duration::from_nanos(nanos);
            assert_eq!(d.to_string(), text);
            assert_eq!(Duration::parse(text), Ok(d));
        }
    }

    #[test]
    fn byte_sizes_parse_as_go_units_does() {
        let cases = [
            ("2048", 2048),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("512mb", 512 << 20),
            ("1.5GiB", 3 << 29),
            ("1g", 1 << 30),
            ("64 k", 64 << 10),
            ("10b", 10),
            ("1.5k", 1536),
            ("0.1k", 102),
        ];
        for (text, bytes) in cases {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "m",
            "12 parsecs",
            "-1m",
            "1.2.3m",
            "5x",
            "1mx",
            "1 GiBs",
        ] {
            assert!(
                matches!(ByteSize::parse(bad), Err(UnitError::ByteSize { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            ByteSize::parse("99999999p"),
            Err(UnitError::ByteSizeOverflow { .. })
        ));
        assert_eq!(ByteSize(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize(1536).to_string(), "1536B");
        assert_eq!(ByteSize(3 << 29).to_string(), "1536MiB");
        assert_eq!(ByteSize(100).to_string(), "100B");
    }

    #[test]
    fn cpus_parse_to_thousandths() {
        assert_eq!(Cpus::parse("0.5"), Ok(Cpus::from_millis(500)));
        assert_eq!(Cpus::parse("2"), Ok(Cpus::from_millis(2000)));
        assert_eq!(Cpus::parse(".25"), Ok(Cpus::from_millis(250)));
        assert_eq!(Cpus::parse("1.5000"), Ok(Cpus::from_millis(1500)));
        assert!(matches!(
            Cpus::parse("0.0001"),
            Err(UnitError::CpusPrecision { .. })
        ));
        for bad in ["", "-1", "one", "1.2.3", "1e3"] {
            assert!(
                matches!(Cpus::parse(bad), Err(UnitError::Cpus { .. })),
                "{bad}"
            );
        }
        assert_eq!(Cpus::from_millis(1500).to_string(), "1.5");
        assert_eq!(Cpus::from_millis(2000).to_string(), "2");
    }

    #[test]
    fn units_serialize_readably() {
        let json = serde_json::to_string(&(
            Duration::from_secs(90),
            ByteSize(1024),
            Cpus::from_millis(500),
        ))
        .unwrap();
        assert_eq!(json, r#"["1m30s",1024,"0.5"]"#);
        let back: (Duration, ByteSize, Cpus) = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            (
                Duration::from_secs(90),
                ByteSize(1024),
                Cpus::from_millis(500)
            )
        );
    }
}
