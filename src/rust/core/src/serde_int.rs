//! Serde helpers that write large integers as decimal strings, because R
//! (and JSON readers in general) turn JSON numbers into doubles and would
//! silently lose digits beyond 2^53. Readers accept strings or plain
//! non-negative integers.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

struct DecimalVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T> Visitor<'de> for DecimalVisitor<T>
where
    T: std::str::FromStr + TryFrom<u64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a non-negative integer written as a decimal string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        // FromStr accepts a leading '+'; insist on plain digits.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("expected decimal digits, found {s:?}")));
        }
        s.parse()
            .map_err(|_| E::custom(format!("{s:?} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
}

pub mod u128_string {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        d.deserialize_any(DecimalVisitor::<u128>(std::marker::PhantomData))
    }
}

pub mod u64_string {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(DecimalVisitor::<u64>(std::marker::PhantomData))
    }
}
