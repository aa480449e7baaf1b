//! `jscell-evil-guest`: a stand-in for a hardened guest that JavaScript has taken over. It
//! speaks the wire and the lane protocols as the real guest does, without V8 or a sandbox, and
//! attacks the parent in the way its runtime's `bootstrap` names (`attacks.rs`). The pytest
//! suite runs every attack and checks the parent survives each with one clear error. Test-only:
//! never shipped.

mod attacks;
mod craft;
mod guest;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use attacks::ATTACKS;
use guest::Guest;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for attack in ATTACKS {
            println!("{}", attack.name);
        }
        return;
    }
    // Die with the parent, as the real guest does.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // SAFETY: the parent hands over the wire as stdin and the lane's region as stdout.
    let (socket, lane) = unsafe { (UnixStream::from_raw_fd(0), OwnedFd::from_raw_fd(1)) };
    let guest = Guest::connect(socket, lane);
    let named = guest.config.bootstrap.clone().unwrap_or_default();
    match ATTACKS.iter().find(|attack| attack.name == named) {
        Some(attack) => (attack.run)(&guest),
        None => {
            guest.ready();
            guest.serve()
        }
    }
}
