//! Amounts in raw (u128): the decimal strings RPC uses, the 32-digit hex of legacy send
//! JSON, conversions to and from whole Nano units, and arithmetic that never wraps.

use std::fmt;
use std::str::FromStr;

use crate::numbers::{decode_hex_into, encode_hex_upper};

/// 1 nano (formerly "Mnano") in raw.
pub const NANO_RATIO: u128 = 1_000_000_000_000_000_000_000_000_000_000; // 10^30
/// 1 Knano in raw.
pub const KNANO_RATIO: u128 = NANO_RATIO * 1000;
/// Digits after the point when an amount is written in nano.
const NANO_DECIMALS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("invalid character {0:?} in amount")]
    Digit(char),
    #[error("amount does not fit in 128 bits")]
    Overflow,
    #[error("too many decimal places (at most 30 for nano)")]
    Precision,
    #[error("invalid hex amount: {0}")]
    Hex(#[from] crate::numbers::HexError),
}

/// An amount of raw. `Ord` is numeric order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct Amount(pub u128);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(u128::MAX);

    pub const fn raw(v: u128) -> Self {
        Amount(v)
    }
    /// Whole nano; `None` when `n` nano exceeds the 128-bit range.
    pub fn nano(n: u128) -> Option<Self> {
        n.checked_mul(NANO_RATIO).map(Amount)
    }
    pub fn number(&self) -> u128 {
        self.0
    }
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
    pub fn checked_add(self, o: Amount) -> Option<Amount> {
        self.0.checked_add(o.0).map(Amount)
    }
    pub fn checked_sub(self, o: Amount) -> Option<Amount> {
        self.0.checked_sub(o.0).map(Amount)
    }
    /// Difference regardless of order; a block's amount is |balance − previous balance|.
    pub fn abs_diff(self, o: Amount) -> Amount {
        Amount(self.0.abs_diff(o.0))
    }
    pub fn to_be_bytes(&self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    pub fn from_be_bytes(b: [u8; 16]) -> Self {
        Amount(u128::from_be_bytes(b))
    }

    /// Strict decimal raw, as RPC sends it: digits only, no sign, no spaces.
    pub fn decode_dec(s: &str) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        let mut v: u128 = 0;
        for c in s.chars() {
            let d = c.to_digit(10).ok_or(AmountError::Digit(c))? as u128;
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(d))
                .ok_or(AmountError::Overflow)?;
        }
        Ok(Amount(v))
    }
    pub fn encode_dec(&self) -> String {
        self.0.to_string()
    }
    /// 32 hex digits, the legacy send block's JSON `balance`.
    pub fn decode_hex(s: &str) -> Result<Self, AmountError> {
        let mut b = [0u8; 16];
        decode_hex_into(s, &mut b)?;
        Ok(Self::from_be_bytes(b))
    }
    pub fn encode_hex(&self) -> String {
        encode_hex_upper(&self.to_be_bytes())
    }

    /// Parses a decimal in nano units ("1.5" → 1.5×10^30 raw) without floating point.
    pub fn decode_nano(s: &str) -> Result<Self, AmountError> {
        Self::decode_units(s, NANO_DECIMALS)
    }

    fn decode_units(s: &str, decimals: usize) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(AmountError::Empty);
        }
        let frac_trim = frac.trim_end_matches('0');
        if frac_trim.len() > decimals {
            // Validate characters first so the error names the real problem.
            if let Some(c) = frac.chars().find(|c| !c.is_ascii_digit()) {
                return Err(AmountError::Digit(c));
            }
            return Err(AmountError::Precision);
        }
        let int_v = if int.is_empty() {
            0
        } else {
            Self::decode_dec(int)?.0
        };
        let mut frac_v: u128 = 0;
        for c in frac.chars() {
            if !c.is_ascii_digit() {
                return Err(AmountError::Digit(c));
            }
        }
        for c in frac_trim.chars() {
            frac_v = frac_v * 10 + c.to_digit(10).unwrap_or(0) as u128;
        }
        frac_v *= 10u128.pow((decimals - frac_trim.len()) as u32);
        let scale = 10u128.pow(decimals as u32);
        int_v
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_v))
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// The amount in nano with every significant decimal and no trailing zeros.
    pub fn format_nano(&self) -> String {
        let int = self.0 / NANO_RATIO;
        let frac = self.0 % NANO_RATIO;
        if frac == 0 {
            return int.to_string();
        }
        let f = format!("{:030}", frac);
        format!("{}.{}", int, f.trim_end_matches('0'))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, AmountError> {
        Self::decode_dec(s)
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        Amount(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip_and_limits() {
        let max = "340282366920938463463374607431768211455";
        assert_eq!(Amount::decode_dec(max).unwrap(), Amount::MAX);
        assert_eq!(Amount::MAX.encode_dec(), max);
        assert_eq!(
            Amount::decode_dec("340282366920938463463374607431768211456"),
            Err(AmountError::Overflow)
        );
        assert_eq!(Amount::decode_dec("-1"), Err(AmountError::Digit('-')));
        assert_eq!(Amount::decode_dec(""), Err(AmountError::Empty));
        assert_eq!(Amount::decode_dec("1 "), Err(AmountError::Digit(' ')));
    }

    #[test]
    fn nano_units_both_ways() {
        assert_eq!(Amount::decode_nano("1").unwrap().0, NANO_RATIO);
        assert_eq!(Amount::decode_nano("1.5").unwrap().0, NANO_RATIO * 3 / 2);
        assert_eq!(Amount::decode_nano("0.000001").unwrap().0, 10u128.pow(24));
        assert_eq!(
            Amount::decode_nano(".000000000000000000000000000001")
                .unwrap()
                .0,
            1
        );
        assert_eq!(
            Amount::decode_nano("0.0000000000000000000000000000001"),
            Err(AmountError::Precision)
        );
        assert_eq!(Amount::decode_nano("1.5x"), Err(AmountError::Digit('x')));
        assert_eq!(Amount::decode_nano("400"), Ok(Amount(400 * NANO_RATIO)));
        assert_eq!(
            Amount::decode_nano("340282366920"),
            Err(AmountError::Overflow)
        );
        assert_eq!(Amount(NANO_RATIO * 3 / 2).format_nano(), "1.5");
        assert_eq!(Amount(1).format_nano(), "0.000000000000000000000000000001");
        assert_eq!(Amount(KNANO_RATIO).format_nano(), "1000");
        assert_eq!(Amount::nano(1000), Some(Amount(KNANO_RATIO)));
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(Amount::MAX.checked_add(Amount(1)), None);
        assert_eq!(Amount(0).checked_sub(Amount(1)), None);
        assert_eq!(Amount(5).checked_sub(Amount(3)), Some(Amount(2)));
        assert_eq!(Amount(3).abs_diff(Amount(5)), Amount(2));
    }

    #[test]
    fn hex_form() {
        let a = Amount::decode_hex("00F035A9C7D818E7C34148C524FFFFEE").unwrap();
        assert_eq!(a.encode_hex(), "00F035A9C7D818E7C34148C524FFFFEE");
        assert!(Amount::decode_hex("00").is_err());
    }
}
