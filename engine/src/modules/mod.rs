//! ES modules. Every resolution and every source comes from the `Host`: the engine never
//! reads a file. `key` names a module, `map` holds the compiled ones and drives graph loads,
//! `callbacks` are what V8 calls while instantiating, evaluating and importing; the engine's
//! side of a load (compile, instantiate, evaluate, answer) is `engine/module_graph.rs`.

pub mod callbacks;
pub mod key;
pub mod map;
