//! How the reference's JSON reader (FlatBuffers' text parser) turns a scalar field's
//! text into its number when it builds a table: the rules of `strtoll`/`strtoull` and
//! FlatBuffers' range checks, with the error texts it answers. Shared by the envelope
//! checks (what the node accepts, `schema::normalize`) and the reproduction of the
//! parser's refusals (`flatc_errors`), so both take the same texts.

/// The scalar types of the schema's fields, as the reference's parser reads them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Bool,
    /// `ulong`.
    U64,
    /// `int`.
    I32,
    /// `byte`, the type under the schema's enums.
    I8,
}

/// Digits past the point where a magnitude is surely out of every range here.
const MAX_DIGITS: usize = 40;

impl Scalar {
    /// The type's name in the parser's errors.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::U64 => "ulong",
            Scalar::I32 => "int",
            Scalar::I8 => "byte",
        }
    }

    /// The type's range as the parser prints it when a constant does not fit.
    fn interval(self) -> &'static str {
        match self {
            Scalar::Bool => "[0; 255]",
            Scalar::U64 => "[0; 18446744073709551615]",
            Scalar::I32 => "[-2147483648; 2147483647]",
            Scalar::I8 => "[-128; 127]",
        }
    }

    /// The number the parser makes of `text` when it builds the table, or its error: a
    /// whole integer, with an optional sign, in decimal or (`0x` where the first digit
    /// is) hex; `invalid number: "<text>"` otherwise, with `, constant does not fit
    /// [<min>; <max>]` for a number out of the type's range. `ulong` comes from
    /// `strtoull` (a negative number wraps and is refused as not fitting, `-0` is 0), the
    /// narrower types from a 64-bit signed reading (saturated) checked against their
    /// range. (`strtoll` also skips leading blanks; a caller that takes them cuts them
    /// first.)
    pub fn parse(self, text: &str) -> Result<i128, String> {
        let invalid = || Err(format!("invalid number: \"{text}\""));
        let no_fit = || {
            Err(format!(
                "invalid number: \"{text}\", constant does not fit {}",
                self.interval()
            ))
        };
        let b = text.as_bytes();
        // The base: hex when the first digit is a 0 followed by an x.
        let first_digit = b.iter().position(u8::is_ascii_digit);
        let hex =
            first_digit.is_some_and(|i| b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')));
        let (negative, rest) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        let digits = match rest {
            [b'0', b'x' | b'X', d, ..] if hex && d.is_ascii_hexdigit() => &rest[2..],
            _ => rest,
        };
        let radix = if hex { 16 } else { 10 };
        if digits.is_empty() || !digits.iter().all(|c| char::from(*c).is_digit(radix)) {
            return invalid();
        }
        // Leading zeros change nothing; a magnitude past 128 bits saturates.
        let significant = {
            let z = digits.iter().take_while(|c| **c == b'0').count();
            &digits[z.min(digits.len() - 1)..]
        };
        let magnitude = if significant.len() > MAX_DIGITS {
            u128::MAX
        } else {
            significant.iter().fold(0u128, |m, c| {
                m.saturating_mul(radix.into())
                    .saturating_add(char::from(*c).to_digit(radix).unwrap_or(0).into())
            })
        };
        match self {
            Scalar::U64 => {
                if magnitude > u128::from(u64::MAX) || (negative && magnitude != 0) {
                    return no_fit();
                }
                Ok(magnitude as i128)
            }
            Scalar::Bool | Scalar::I32 | Scalar::I8 => {
                let signed: i128 = if negative {
                    -(magnitude.min(1 << 63) as i128)
                } else {
                    magnitude.min(i64::MAX as u128) as i128
                };
                let (min, max) = match self {
                    Scalar::Bool => (0, 255),
                    Scalar::I8 => (-128, 127),
                    _ => (i128::from(i32::MIN), i128::from(i32::MAX)),
                };
                if (min..=max).contains(&signed) {
                    Ok(signed)
                } else {
                    no_fit()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scalar;

    #[test]
    fn numbers_read_as_strtoll_and_strtoull_with_flatbuffers_ranges() {
        let ok = |s: Scalar, t: &str| s.parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(ok(Scalar::U64, "18446744073709551615"), u64::MAX as i128);
        assert_eq!(ok(Scalar::U64, "0x10"), 16);
        assert_eq!(ok(Scalar::U64, "+0XfF"), 255);
        assert_eq!(ok(Scalar::U64, "-0"), 0);
        assert_eq!(ok(Scalar::U64, "0007"), 7);
        assert_eq!(ok(Scalar::I32, "-2147483648"), -2147483648);
        assert_eq!(ok(Scalar::I32, "-0x10"), -16);
        assert_eq!(ok(Scalar::Bool, "255"), 255);
        assert_eq!(ok(Scalar::I8, "-128"), -128);
        let fit = |s: Scalar, t: &str| {
            format!(
                "invalid number: \"{t}\", constant does not fit {}",
                s.interval()
            )
        };
        for (s, t) in [
            (Scalar::U64, "18446744073709551616"),
            (Scalar::U64, "-1"),
            (Scalar::U64, "-0x1"),
            (Scalar::U64, "99999999999999999999999999999999999999999999"),
            (Scalar::I32, "2147483648"),
            (Scalar::I32, "-2147483649"),
            (Scalar::I32, "-99999999999999999999999"),
            (Scalar::Bool, "256"),
            (Scalar::Bool, "-1"),
            (Scalar::I8, "128"),
            (Scalar::I8, "-129"),
        ] {
            assert_eq!(s.parse(t), Err(fit(s, t)), "{t}");
        }
        for t in [
            "", "+", "-", "0x", "0xg", "1x5", "1.5", "1e3", "12 ", " 12", "--1", "null", "true",
        ] {
            assert_eq!(
                Scalar::U64.parse(t),
                Err(format!("invalid number: \"{t}\"")),
                "{t}"
            );
        }
    }
}
