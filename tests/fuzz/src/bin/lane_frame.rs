//! The parent's receiving end of the lane, with the guest's end writing whatever the input says
//! into the shared header and buffer: a claimed total, a chunk length, and the chunk's bytes.
//! What the parent copies out is decoded as from a guest.

use jscell_fuzz::{guest_frames, write_seeds_if_asked, Bounded, LIMITS, MAX_INPUT};
use jscell_host::lane::{Lane, Side};
use jscell_host::wire::{decode_from_guest, FrameLimit, ToParent};

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn main() {
    write_seeds_if_asked(|| {
        let lengths = |payload: &Vec<u8>| [(payload.len() as u64).to_le_bytes(), (payload.len() as u64).to_le_bytes()].concat();
        guest_frames().into_iter().map(|payload| [lengths(&payload), payload].concat()).collect()
    });
    let (lane, _fd) = Lane::create(64 << 10).expect("a lane");
    let limit = FrameLimit::new(MAX_INPUT);
    afl::fuzz!(|data: &[u8]| {
        let Some((lengths, bytes)) = data.split_at_checked(16) else { return };
        let total = u64::from_le_bytes(lengths[..8].try_into().expect("8 bytes"));
        let chunk = u64::from_le_bytes(lengths[8..].try_into().expect("8 bytes"));
        lane.forge_chunk(Side::Guest, total, chunk, bytes);
        // A chunk that claims more is to follow is abandoned at once: no guest sends it.
        if let Ok(payload) = lane.receive_payload(Side::Parent, limit, &|| true) {
            let _ = decode_from_guest::<ToParent>(&payload, limit, LIMITS);
        }
    });
}
