//! A guest's `max_process_memory` as a memory cgroup of its own, where this machine lets the
//! parent make one: the kernel then caps what the guest commits (its resident pages), which is
//! what matters. V8 reserves far more address space than it uses (a JIT guest holds some 600 MB
//! of writable mappings to use 15 MB), so the rlimit a guest can set itself (`RLIMIT_DATA`,
//! which counts reservations) cannot hold a cap below a few hundred megabytes; it stays the
//! fallback where no cgroup can be made (`PROCESS_MEMORY_FLOOR`).
//!
//! The cgroup is made under the parent's own memory cgroup (cgroup v2, or the v1 memory
//! controller), joined by the guest right after it is spawned, and removed once the guest is
//! reaped (or, for a warm guest that outlived its parent, by the next process that probes). Its
//! out-of-memory kill count tells the parent that a guest killed by SIGKILL died of the cap.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The smallest cap a runtime may have where only the rlimit enforces it: what a guest reserves
/// at start-up with V8's code range at its minimum (about 140 MB), and room to run.
pub const PROCESS_MEMORY_FLOOR: u64 = 256 << 20;
/// The smallest cap enforced by a cgroup: an idle guest holds about 15 MB.
pub const CGROUP_MEMORY_FLOOR: u64 = 32 << 20;
/// Set to `0` to use the rlimit even where a cgroup could be made.
const DISABLE: &str = "JSCELL_MEMORY_CGROUP";

/// Where guests' cgroups go, and how their limit is written.
#[derive(Debug, Clone)]
struct Controller {
    parent: PathBuf,
    version: Version,
}

#[derive(Debug, Clone, Copy)]
enum Version {
    V1,
    V2,
}

/// One guest's cgroup; removed when dropped (the guest must be reaped first).
#[derive(Debug)]
pub struct MemoryCgroup {
    path: PathBuf,
    version: Version,
}

/// The controller, if this process may make memory cgroups (probed once, by making one).
fn controller() -> Option<&'static Controller> {
    static PROBED: OnceLock<Option<Controller>> = OnceLock::new();
    PROBED
        .get_or_init(|| {
            if std::env::var(DISABLE).is_ok_and(|value| value == "0") {
                return None;
            }
            let controller = find_controller()?;
            let probe = controller.parent.join(format!("jscell-probe-{}", std::process::id()));
            let usable = fs::create_dir(&probe).is_ok()
                && fs::write(probe.join(controller.version.limit_file()), CGROUP_MEMORY_FLOOR.to_string()).is_ok();
            let _ = fs::remove_dir(&probe);
            if usable {
                sweep(&controller.parent);
            }
            usable.then_some(controller)
        })
        .as_ref()
}

/// Remove the cgroups of guests whose parent process is gone. A warm guest outlives its parent
/// by a moment (it dies of the parent's death), so its cgroup is left empty; `rmdir` removes
/// only empty ones.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(|name| name.strip_prefix("jscell-")?.split('-').next()) else { continue };
        if !Path::new("/proc").join(owner).exists() {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// This process's memory cgroup directory, from `/proc/self/cgroup`.
fn find_controller() -> Option<Controller> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let parent = Path::new("/sys/fs/cgroup/memory").join(path);
            if parent.join("memory.limit_in_bytes").exists() {
                return Some(Controller { parent, version: Version::V1 });
            }
        }
        if controllers.is_empty() {
            let parent = Path::new("/sys/fs/cgroup").join(path);
            let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            if enabled.split_whitespace().any(|c| c == "memory") {
                return Some(Controller { parent, version: Version::V2 });
            }
        }
    }
    None
}

impl Version {
    fn limit_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        }
    }
}

/// The smallest `max_process_memory` this machine can hold a guest to.
pub fn process_memory_floor() -> u64 {
    if controller().is_some() {
        CGROUP_MEMORY_FLOOR
    } else {
        PROCESS_MEMORY_FLOOR
    }
}

impl MemoryCgroup {
    /// Put process `pid` into a new cgroup capped at `limit_bytes`; `None` where this machine
    /// allows no cgroup (the guest then caps itself with the rlimit).
    pub fn join(pid: u32, limit_bytes: u64) -> io::Result<Option<MemoryCgroup>> {
        let Some(controller) = controller() else { return Ok(None) };
        let path = controller.parent.join(format!("jscell-{}-{pid}", std::process::id()));
        fs::create_dir(&path)?;
        let cgroup = MemoryCgroup { path, version: controller.version };
        fs::write(cgroup.path.join(cgroup.version.limit_file()), limit_bytes.to_string())?;
        if let Version::V1 = cgroup.version {
            // Where swap is accounted, the cap covers it too (writing it may fail where not).
            let _ = fs::write(cgroup.path.join("memory.memsw.limit_in_bytes"), limit_bytes.to_string());
        }
        fs::write(cgroup.path.join("cgroup.procs"), pid.to_string())?;
        Ok(Some(cgroup))
    }

    /// Whether the kernel killed a process of this cgroup for reaching the cap.
    pub fn killed_for_memory(&self) -> bool {
        let (file, key) = match self.version {
            Version::V1 => ("memory.oom_control", "oom_kill"),
            Version::V2 => ("memory.events", "oom_kill"),
        };
        let counters = fs::read_to_string(self.path.join(file)).unwrap_or_default();
        counters.lines().filter_map(|line| line.split_once(' ')).any(|(name, count)| name == key && count.trim() != "0")
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}
