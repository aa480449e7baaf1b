//! Work a runtime's host has in flight for its JavaScript, bounded: async host calls, in number
//! and in the bytes of their arguments, and module fetches, in number. The engine keeps within
//! these windows (an async call beyond them is refused with a `RangeError`, a fetch waits its
//! turn), so an honest guest never exceeds them; the hardened parent counts what its guest
//! asked for in the same windows and treats an overrun as a protocol violation.

use std::collections::HashMap;
use std::hash::Hash;

/// Async host calls one runtime may have waiting for the host.
pub const MAX_PENDING_ASYNC_CALLS: usize = 10_000;
/// Module sources one runtime may be fetching at once.
pub const MAX_PENDING_MODULE_LOADS: usize = 256;

/// Why a window refused one more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Overrun {
    #[error("more than {limit} {what} in flight at once")]
    Count { what: &'static str, limit: usize },
    #[error("{what} whose values together exceed max_serialization_bytes ({limit} bytes) in flight at once")]
    Bytes { what: &'static str, limit: usize },
    #[error("one of the {what} in flight was started again")]
    Duplicate { what: &'static str },
}

/// In-flight items by key, each with the bytes it holds.
pub struct Window<K, T> {
    what: &'static str,
    open: HashMap<K, (T, usize)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl<K: Hash + Eq, T> Window<K, T> {
    /// Keys may come from a peer: the map's hasher is the standard library's keyed one.
    pub fn new(what: &'static str, max_count: usize, max_bytes: usize) -> Self {
        Window { what, open: HashMap::new(), bytes: 0, max_count, max_bytes }
    }

    /// The window for async host calls of a runtime whose values are bounded by `max_bytes`.
    pub fn async_calls(max_bytes: usize) -> Self {
        Window::new("async host calls", MAX_PENDING_ASYNC_CALLS, max_bytes)
    }

    /// Whether one more holding `bytes` fits.
    pub fn admits(&self, bytes: usize) -> Result<(), Overrun> {
        if self.open.len() >= self.max_count {
            return Err(Overrun::Count { what: self.what, limit: self.max_count });
        }
        if self.bytes.saturating_add(bytes) > self.max_bytes {
            return Err(Overrun::Bytes { what: self.what, limit: self.max_bytes });
        }
        Ok(())
    }

    pub fn open(&mut self, key: K, item: T, bytes: usize) -> Result<(), Overrun> {
        self.admits(bytes)?;
        if self.open.contains_key(&key) {
            return Err(Overrun::Duplicate { what: self.what });
        }
        self.bytes += bytes;
        self.open.insert(key, (item, bytes));
        Ok(())
    }

    pub fn close(&mut self, key: &K) -> Option<T> {
        let (item, bytes) = self.open.remove(key)?;
        self.bytes -= bytes;
        Some(item)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.open.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_bounds_count_and_bytes_and_refuses_duplicates() {
        let mut window = Window::new("calls", 2, 10);
        window.open(1, (), 4).unwrap();
        assert_eq!(window.open(1, (), 0), Err(Overrun::Duplicate { what: "calls" }));
        assert_eq!(window.open(2, (), 7), Err(Overrun::Bytes { what: "calls", limit: 10 }));
        window.open(2, (), 6).unwrap();
        assert_eq!(window.open(3, (), 0), Err(Overrun::Count { what: "calls", limit: 2 }));
        assert_eq!(window.close(&1), Some(()));
        window.open(3, (), 4).unwrap();
        assert_eq!(window.len(), 2);
    }
}
