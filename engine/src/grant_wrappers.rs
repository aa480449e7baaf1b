//! The JS functions that wrap host grants (a Python callable passed into JS becomes one). Each
//! wrapper is watched through a weak handle; once V8 has collected every wrapper of a grant, the
//! engine tells its host, which releases the grant and the callable it holds. Ops, called by id,
//! have no wrapper and stay granted.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::value::{CallMode, HostFunctionId};

/// Makes the JS function that wraps a grant. The bindings provide it (its callbacks call the
/// host); conversion reaches it through the engine state, so it stays below the bindings.
pub type WrapGrant = for<'s, 'i> fn(&mut v8::PinScope<'s, 'i>, HostFunctionId, CallMode) -> v8::Local<'s, v8::Function>;

#[derive(Default)]
pub struct GrantWrappers {
    watched: HashMap<HostFunctionId, Vec<v8::Weak<v8::Function>>>,
    /// Grants some wrapper of which was collected since the last look, filled by finalizers.
    collected: Rc<RefCell<Vec<HostFunctionId>>>,
}

impl GrantWrappers {
    pub fn watch(&mut self, isolate: &mut v8::Isolate, id: HostFunctionId, wrapper: v8::Local<'_, v8::Function>) {
        let collected = self.collected.clone();
        let weak = v8::Weak::with_finalizer(isolate, wrapper, Box::new(move |_| collected.borrow_mut().push(id)));
        self.watched.entry(id).or_default().push(weak);
    }

    /// The grants none of whose wrappers are alive any more, forgotten here.
    pub fn take_released(&mut self) -> Vec<HostFunctionId> {
        let collected = std::mem::take(&mut *self.collected.borrow_mut());
        let mut released = Vec::new();
        for id in collected {
            let Some(wrappers) = self.watched.get_mut(&id) else { continue };
            wrappers.retain(|weak| !weak.is_empty());
            if wrappers.is_empty() {
                self.watched.remove(&id);
                released.push(id);
            }
        }
        released
    }
}
