//! The host side of jscell: what the Python layer talks to. `Backend` is the one interface;
//! `NativeBackend` runs the engine on a thread of this process, `HardenedBackend` in a
//! sandboxed guest process; `CapabilityHost` holds every grant (ops, bound functions, modules,
//! console) and serves them to whichever backend runs the engine.

mod backend;
mod backend_thread;
mod capability_host;
mod fork_guard;
mod grant_dispatch;
mod guest_bounds;
mod guest_pool;
mod guest_process;
mod hardened;
pub mod lane;
mod memory_cgroup;
mod module_root;
mod module_sources;
mod native;
mod reply_slot;
pub mod wire;

pub use backend::{Backend, GuestReport};
pub use backend_thread::BackendThread;
pub use fork_guard::ForkGuarded;
pub use capability_host::{AsyncHandler, CapabilityHost, ConsoleSink, Lifetime, NotReleasable, SyncHandler};
pub use guest_bounds::{table as guest_bounds, Bound, Shown, MAX_RELEASE_BATCH};
pub use guest_pool::MAX_WARM_GUESTS;
pub use guest_process::{GuestOptions, OUT_OF_MEMORY_EXIT};
pub use memory_cgroup::{process_memory_floor, PROCESS_MEMORY_FLOOR};
pub use hardened::{HardenedBackend, StartError};
pub use module_root::ModuleRoot;
pub use module_sources::{ModuleLoader, ModuleResolver, ModuleSources, NotResolved};
pub use native::NativeBackend;
pub use grant_dispatch::GrantDispatch;

pub use jscell_engine as engine;
