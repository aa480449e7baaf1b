//! A bound on lists decoded from a peer: `#[serde(deserialize_with = "at_most::<N, _, _>")]`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Decode a list of at most `N` items (`#[serde(deserialize_with)]` on a peer's lists that
/// have a known bound): a longer one is refused as it arrives, before it is held.
pub fn at_most<'de, const N: usize, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    struct AtMost<const N: usize, T>(PhantomData<fn() -> T>);
    impl<'de, const N: usize, T: Deserialize<'de>> Visitor<'de> for AtMost<N, T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {N} items")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if items.len() == N {
                    return Err(de::Error::custom(format!("a list of more than {N} items")));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(AtMost::<N, T>(PhantomData))
}
