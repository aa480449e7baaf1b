//! Which request's JS runs now, so a cancel stops only the JS of the request it names.

use super::handle::Running;
use super::Engine;
use crate::inbox::RequestId;
use crate::sync::Unpoisoned;

impl Engine {
    /// Mark whether request `id`'s JS runs now. A cancel that came as it finished leaves a
    /// termination pending, which must not stop the next request's JS.
    pub(super) fn run_as(&mut self, id: Option<RequestId>, starts: bool) {
        let mut running = self.handle.shared.running.locked();
        if !starts && running.cancelled {
            self.isolate.cancel_terminate_execution();
        }
        *running = Running { id: id.filter(|_| starts), cancelled: false };
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.handle.shared.running.locked().cancelled
    }
}
