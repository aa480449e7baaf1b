//! The reader of V8's serialized data, which the parent runs on what a guest says is a value:
//! checking it (building nothing), and building the value tree from it.

use jscell_fuzz::{serialized_samples, write_seeds_if_asked, Bounded, LIMITS};
use jscell_host::engine::Value;

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn main() {
    write_seeds_if_asked(serialized_samples);
    afl::fuzz!(|data: &[u8]| {
        let _ = Value::Serialized(data.to_vec()).expand(LIMITS);
    });
}
