//! The parent's decoder of socket frames from a guest: the length prefix, then the payload
//! decoded and charged against the runtime's limits.

use jscell_fuzz::{guest_frames, write_seeds_if_asked, Bounded, LIMITS, MAX_INPUT};
use jscell_host::wire::{decode_from_guest, encode, encode_payload, FrameLimit, FrameReader};

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

fn main() {
    write_seeds_if_asked(|| {
        let frames = guest_frames();
        let payloads = frames.iter().map(|frame| encode_payload(frame).expect("encodable"));
        let streams = frames.iter().map(|frame| encode(frame).expect("encodable"));
        payloads.chain(streams).collect()
    });
    afl::fuzz!(|data: &[u8]| {
        let limit = FrameLimit::new(MAX_INPUT);
        let _ = decode_from_guest(data, limit, LIMITS);
        let mut reader = FrameReader::new(data, limit);
        while let Ok(Some(payload)) = reader.poll() {
            let _ = decode_from_guest(&payload, limit, LIMITS);
        }
    });
}
