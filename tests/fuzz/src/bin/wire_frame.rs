//! The parent's decoder of socket frames from a guest: the length prefix, then the payload
//! decoded and charged against the runtime's limits, as a start-up report or a running guest's
//! frame.

use jscell_fuzz::{guest_frames, write_seeds_if_asked, Bounded, LIMITS, MAX_INPUT};
use jscell_host::wire::{decode_from_guest, FrameLimit, FrameReader, StartReport, ToParent};

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn main() {
    write_seeds_if_asked(|| {
        let payloads = guest_frames();
        let streams = payloads.iter().map(|payload| [&(payload.len() as u32).to_le_bytes()[..], payload].concat()).collect::<Vec<_>>();
        payloads.into_iter().chain(streams).collect()
    });
    afl::fuzz!(|data: &[u8]| {
        let limit = FrameLimit::new(MAX_INPUT);
        let _ = decode_from_guest::<ToParent>(data, limit, LIMITS);
        let _ = decode_from_guest::<StartReport>(data, limit, LIMITS);
        let mut reader = FrameReader::new(data, limit);
        while let Ok(Some(payload)) = reader.poll() {
            let _ = decode_from_guest::<ToParent>(&payload, limit, LIMITS);
        }
    });
}
