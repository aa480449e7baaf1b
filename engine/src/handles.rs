//! JS functions handed out to the owner, kept alive by id until released.

use std::collections::HashMap;

use crate::value::FunctionHandle;

#[derive(Default)]
pub struct FunctionTable {
    next: u64,
    functions: HashMap<FunctionHandle, v8::Global<v8::Function>>,
}

impl FunctionTable {
    pub fn keep(&mut self, function: v8::Global<v8::Function>) -> FunctionHandle {
        self.next += 1;
        let handle = FunctionHandle(self.next);
        self.functions.insert(handle, function);
        handle
    }

    pub fn get(&self, handle: FunctionHandle) -> Option<&v8::Global<v8::Function>> {
        self.functions.get(&handle)
    }

    /// Forget `handles`; unknown ones (released already, or never handed out) are ignored.
    pub fn release(&mut self, handles: &[FunctionHandle]) {
        for handle in handles {
            self.functions.remove(handle);
        }
    }
}
