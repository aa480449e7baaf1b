//! Every bound the parent holds a hardened guest to, in one table: how long the parent waits for
//! it, how much of what it sends the parent decodes or keeps, and how much work it may have the
//! parent do at once. The guest is assumed compromised; each bound is enforced where its bytes
//! arrive (`wire.rs`, `lane.rs`, `hardened/`, `module_sources.rs`), and overrunning one is a
//! protocol violation that kills the guest. The README restates this table (a test checks it).

use std::time::Duration;

use jscell_engine::{ConversionLimits, MAX_PENDING_ASYNC_CALLS, MAX_PENDING_MODULE_LOADS, STACK_FRAME_LIMIT};

/// How a bound's value reads in the table.
pub enum Shown {
    Seconds(Duration),
    Bytes(usize),
    Count(usize),
    /// A bound that follows the runtime's configuration.
    Config(&'static str),
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Seconds(duration) if duration.subsec_millis() == 0 => write!(f, "{} s", duration.as_secs()),
            Shown::Seconds(duration) => write!(f, "{} ms", duration.as_millis()),
            Shown::Bytes(bytes) if bytes % (1 << 30) == 0 => write!(f, "{} GiB", bytes >> 30),
            Shown::Bytes(bytes) if bytes % (1 << 20) == 0 => write!(f, "{} MiB", bytes >> 20),
            Shown::Bytes(bytes) => write!(f, "{bytes} B"),
            Shown::Count(count) => write!(f, "{count}"),
            Shown::Config(text) => f.write_str(text),
        }
    }
}

/// One row: the bound's name, its value, and why it is what it is.
pub struct Bound {
    pub name: &'static str,
    pub value: Shown,
    pub why: &'static str,
}

macro_rules! bounds {
    ($( $(#[doc = $doc:literal])+ $name:ident: $type:ty = $value:expr, $shown:ident; )+) => {
        $( $(#[doc = $doc])+ pub const $name: $type = $value; )+
        const DECLARED: &[fn() -> Bound] = &[$( || Bound {
            name: stringify!($name),
            value: Shown::$shown($name),
            why: concat!($($doc),+).trim_ascii(),
        } ),+];
    };
}

bounds! {
    /// From spawning a guest to its `Ready`, the sandbox, V8 and the bootstrap script included.
    START_DEADLINE: Duration = Duration::from_secs(10), Seconds;
    /// How long past a call's own timeout the guest may take to answer before it is killed.
    GRACE: Duration = Duration::from_secs(1), Seconds;
    /// The deadline of calls that take no timeout: `bind_function`, `bind_object`, `get_stats`.
    CONTROL_DEADLINE: Duration = Duration::from_secs(5), Seconds;
    /// A write to a guest that stops reading, or a frame on the lane whose next chunk does not
    /// come, gives up after this long without progress.
    STALL_DEADLINE: Duration = Duration::from_secs(5), Seconds;
    /// A frame may carry a value of up to twice `max_serialization_bytes` in its encoded form
    /// (V8 stores some strings at two bytes a character), plus this much around it.
    FRAME_ENVELOPE: usize = 1 << 20, Bytes;
    /// No frame is larger, whatever the limits: the largest length the parent ever reads.
    MAX_FRAME: usize = 1 << 30, Bytes;
    /// Stack frames in one JavaScript error: as many as the engine records.
    MAX_STACK_FRAMES: usize = STACK_FRAME_LIMIT, Count;
    /// Sandbox layers a guest reports at start-up.
    MAX_SANDBOX_LAYERS: usize = 64, Count;
    /// Async host calls a guest may have waiting for the parent (the engine refuses more).
    MAX_ASYNC_CALLS: usize = MAX_PENDING_ASYNC_CALLS, Count;
    /// Module sources a guest may be waiting for at once (the engine fetches no more at once).
    MAX_MODULE_LOADS: usize = MAX_PENDING_MODULE_LOADS, Count;
    /// Distinct module URLs one runtime resolves: only these may be loaded.
    MAX_MODULE_URLS: usize = 65_536, Count;
    /// Each resolved URL is charged its length plus this, against the runtime's value limit.
    MODULE_URL_OVERHEAD: usize = 64, Bytes;
    /// Async results and module sources waiting to be written to a guest: the handler that
    /// finishes one more waits (up to `STALL_DEADLINE`, for a guest that stopped reading).
    MAX_QUEUED_COMPLETIONS: usize = 4, Count;
    /// Ids in one release notice: function handles the parent released (gathered and sent
    /// every `RELEASE_INTERVAL`, never by the thread that dropped them), or grants the guest's
    /// JS holds no more.
    MAX_RELEASE_BATCH: usize = 65_536, Count;
    /// How often the parent sends what it gathered (releases), and looks at deadlines.
    RELEASE_INTERVAL: Duration = Duration::from_millis(50), Seconds;
}

/// Bounds that follow the runtime's configuration.
const CONFIGURED: &[(&str, &str, &str)] = &[
    (
        "value_budget",
        "max_serialization_bytes",
        "Everything one frame decodes to, charged node by node as the engine charges a value.",
    ),
    ("value_depth", "max_serialization_depth", "Nesting of any value a frame decodes to."),
    ("frame_limit", "2 × max_serialization_bytes + FRAME_ENVELOPE", "The largest frame, at most MAX_FRAME."),
    (
        "async_call_bytes",
        "max_serialization_bytes",
        "The arguments of every async host call a guest has waiting, together.",
    ),
    ("module_url_bytes", "max_serialization_bytes", "The URLs one runtime resolved, together."),
];

/// The whole table, in a fixed order: the declared bounds, then those following the config.
pub fn table() -> Vec<Bound> {
    let configured = CONFIGURED.iter().map(|&(name, value, why)| Bound { name, value: Shown::Config(value), why });
    DECLARED.iter().map(|row| row()).chain(configured).collect()
}

/// The largest frame accepted from a guest whose runtime has `limits`.
pub fn frame_limit(limits: ConversionLimits) -> usize {
    limits.max_bytes.saturating_mul(2).saturating_add(FRAME_ENVELOPE).min(MAX_FRAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_reads_as_a_row() {
        let rows: Vec<String> = table().iter().map(|bound| format!("{} | {} | {}", bound.name, bound.value, bound.why)).collect();
        assert!(rows.contains(&"GRACE | 1 s | How long past a call's own timeout the guest may take to answer before it is killed.".to_string()));
        assert!(rows.iter().any(|row| row.starts_with("FRAME_ENVELOPE | 1 MiB | ")));
        assert!(rows.iter().any(|row| row.starts_with("RELEASE_INTERVAL | 50 ms | ")));
        assert!(rows.iter().any(|row| row.starts_with("MAX_FRAME | 1 GiB | ")));
    }
}
