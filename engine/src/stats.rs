use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A snapshot of one engine's resource use and counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    pub heap_total_bytes: usize,
    pub heap_used_bytes: usize,
    pub heap_limit_bytes: usize,
    pub external_memory_bytes: usize,
    pub physical_total_bytes: usize,
    pub total_execution_time: Duration,
    pub last_execution_time: Duration,
    /// "eval", "eval_async", "call", "call_async" or "" before the first run.
    pub last_execution_kind: String,
    pub eval_sync_count: u64,
    pub eval_async_count: u64,
    pub call_sync_count: u64,
    pub call_async_count: u64,
    pub host_call_sync_count: u64,
    pub host_call_async_count: u64,
    pub active_async_ops: usize,
    pub active_timers: usize,
    pub active_intervals: usize,
}
