//! Startup snapshots as users hold them: the engine's own bytes (a V8 startup blob, or the wasm
//! guest's linear memory) sealed in an envelope that names the engine build they are for and
//! carries their checksum. Every consumer opens the envelope before the engine sees a byte:
//! V8 aborts the process on a blob it cannot read, so anything else is refused here.

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"JSCELLSN";
const FORMAT: u32 = 1;
/// magic, format, the engine tag's length, the heap the build left, the payload's length.
const HEADER: usize = 8 + 4 + 2 + 8 + 8;
const DIGEST: usize = 32;

/// Why bytes are not a snapshot this runtime can start from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("these bytes are not a jscell snapshot")]
    NotASnapshot,
    #[error("this snapshot has format {0}; this jscell reads format {FORMAT}")]
    UnknownFormat(u32),
    #[error("the snapshot is truncated or corrupted (its checksum does not match)")]
    Corrupted,
    #[error("this snapshot was built for {built_for}; this runtime is {runtime}")]
    OtherEngine { built_for: String, runtime: String },
    #[error("the snapshot's heap ({needs} bytes) does not fit this runtime's max_heap_size ({limit} bytes)")]
    TooLarge { needs: usize, limit: usize },
}

/// A checked snapshot: the engine it was built for, the heap its build left, and the engine's bytes.
pub struct Opened<'a> {
    pub engine: &'a str,
    pub heap_bytes: usize,
    pub payload: &'a [u8],
}

/// Seal `payload`, made by `engine` with `heap_bytes` of heap in use, into a snapshot.
pub fn seal(engine: &str, heap_bytes: usize, payload: &[u8]) -> Vec<u8> {
    let tag = engine.as_bytes();
    let mut sealed = Vec::with_capacity(HEADER + tag.len() + DIGEST + payload.len());
    sealed.extend_from_slice(MAGIC);
    sealed.extend_from_slice(&FORMAT.to_le_bytes());
    sealed.extend_from_slice(&(tag.len() as u16).to_le_bytes());
    sealed.extend_from_slice(&(heap_bytes as u64).to_le_bytes());
    sealed.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    sealed.extend_from_slice(tag);
    let digest = checksum(&sealed[8..], payload);
    sealed.extend_from_slice(&digest);
    sealed.extend_from_slice(payload);
    sealed
}

/// Covers every field but the magic, so no byte of a snapshot changes unnoticed.
fn checksum(fields: &[u8], payload: &[u8]) -> [u8; DIGEST] {
    let mut hasher = Sha256::new();
    hasher.update(fields);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Read the envelope of `bytes` and check the payload against its checksum, trusting no field.
pub fn open(bytes: &[u8]) -> Result<Opened<'_>, SnapshotError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let format = u32_at(8);
    if format != FORMAT {
        return Err(SnapshotError::UnknownFormat(format));
    }
    let tag_length = u16_at(12) as usize;
    let heap_bytes = usize::try_from(u64_at(14)).map_err(|_| SnapshotError::Corrupted)?;
    let payload_length = usize::try_from(u64_at(22)).map_err(|_| SnapshotError::Corrupted)?;
    let body = &bytes[HEADER..];
    let expected = tag_length.checked_add(DIGEST).and_then(|n| n.checked_add(payload_length));
    if expected != Some(body.len()) {
        return Err(SnapshotError::Corrupted);
    }
    let (tag, rest) = body.split_at(tag_length);
    let (digest, payload) = rest.split_at(DIGEST);
    if checksum(&bytes[8..HEADER + tag_length], payload).as_slice() != digest {
        return Err(SnapshotError::Corrupted);
    }
    let engine = std::str::from_utf8(tag).map_err(|_| SnapshotError::Corrupted)?;
    Ok(Opened { engine, heap_bytes, payload })
}

/// `bytes` opened for `engine` (the engine tag of the runtime that would start from it), whose
/// heap limit is `max_heap_size`.
pub fn open_for<'a>(bytes: &'a [u8], engine: &str, max_heap_size: Option<usize>) -> Result<&'a [u8], SnapshotError> {
    let opened = open(bytes)?;
    if opened.engine != engine {
        return Err(SnapshotError::OtherEngine { built_for: opened.engine.to_string(), runtime: engine.to_string() });
    }
    if let Some(limit) = max_heap_size {
        if opened.heap_bytes >= limit {
            return Err(SnapshotError::TooLarge { needs: opened.heap_bytes, limit });
        }
    }
    Ok(opened.payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_payload_opens_for_its_engine_only() {
        let sealed = seal("v8 test", 1000, b"payload");
        assert_eq!(open_for(&sealed, "v8 test", None).unwrap(), b"payload");
        let other = open_for(&sealed, "quickjs", None).unwrap_err();
        assert_eq!(other.to_string(), "this snapshot was built for v8 test; this runtime is quickjs");
        assert!(matches!(open_for(&sealed, "v8 test", Some(999)), Err(SnapshotError::TooLarge { .. })));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let sealed = seal("v8 test", 10, b"some payload bytes");
        for length in 0..sealed.len() {
            assert!(open(&sealed[..length]).is_err(), "truncated to {length}");
        }
        for at in 0..sealed.len() {
            let mut corrupted = sealed.clone();
            corrupted[at] ^= 0x40;
            assert!(open_for(&corrupted, "v8 test", None).is_err(), "byte {at} flipped");
        }
        assert_eq!(open(b"not a snapshot at all, just bytes").err(), Some(SnapshotError::NotASnapshot));
    }
}
