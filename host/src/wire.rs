//! The wire between the parent and a hardened guest: one serde enum, bincode-encoded, in
//! length-prefixed frames over a Unix socket. Both directions use the same types; the parent
//! treats every frame from the guest as hostile, so decoding is bounded in size and never
//! trusts a length it did not check.

use std::io::{self, Read, Write};

use jscell_engine::{
    AsyncCallId, ConsoleLevel, EngineConfig, EngineError, HostError, HostFunctionId, JsException, ModuleKey, Request,
    Response, Value,
};
use serde::{Deserialize, Serialize};

/// Bytes in the length prefix of every frame.
const PREFIX: usize = 4;

/// No frame is ever larger. bincode also refuses any length claimed inside a payload beyond
/// this before allocating for it; without a limit, a forged string length made it allocate
/// whatever was claimed.
pub const MAX_FRAME_BYTES: usize = 1 << 30;

/// Every message on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WireFrame {
    // Parent → guest.
    /// The first frame: the sandbox's memory cap and how V8 runs. The guest then does all it
    /// can before it knows its engine (sandbox, V8 start-up), so it can wait in a pool.
    Prepare { max_process_memory: Option<u64>, jitless: bool },
    /// The second frame: what to run the engine with; answered by `Ready` or `StartFailed`.
    Start { config: EngineConfig },
    /// A request for the engine, answered by `Reply` with the same id.
    Request { id: u64, request: Request },
    /// The answer to the guest's `HostCall`.
    HostReply { call: u64, result: Result<Value, HostError> },
    /// The answer to the guest's `HostCallAsync`.
    AsyncComplete { call: AsyncCallId, result: Result<Value, HostError> },
    /// The answer to the guest's `ResolveModule`.
    Resolved { call: u64, result: Result<String, HostError> },
    /// The answer to the guest's `LoadModule`.
    ModuleSource { key: ModuleKey, result: Result<String, HostError> },

    // Guest → parent.
    /// The engine started and ran its bootstrap; each sandbox layer and whether it is active.
    Ready { layers: Vec<(String, bool)> },
    /// The engine could not start.
    StartFailed { error: EngineError },
    /// The answer to `Request` `id`.
    Reply { id: u64, result: Result<Response, EngineError> },
    /// A synchronous host call; the guest's engine waits for `HostReply`.
    HostCall { call: u64, function: HostFunctionId, args: Vec<Value> },
    /// An asynchronous host call, answered later by `AsyncComplete`.
    HostCallAsync { call: AsyncCallId, function: HostFunctionId, args: Vec<Value> },
    /// Resolve an import, answered by `Resolved`.
    ResolveModule { call: u64, specifier: String, referrer: String },
    /// Fetch a module's source, answered by `ModuleSource`.
    LoadModule { key: ModuleKey },
    Console { level: ConsoleLevel, message: String },
    Uncaught { exception: JsException },

    // Parent → guest, on the lane only.
    /// A notice from the guest (console output, an async call, ...) was handled, and the turn
    /// is the guest's again.
    Noted,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the other side closed the connection")]
    Closed,
    #[error("a frame of {length} bytes exceeds the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
    #[error("a malformed frame: {0}")]
    Malformed(String),
    #[error("a frame could not be encoded: {0}")]
    Unencodable(String),
    #[error("wire I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// Frames decode only up to this many bytes (at most `MAX_FRAME_BYTES`); a declared length
/// beyond it is refused before anything is allocated for it.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimit(usize);

impl FrameLimit {
    pub fn new(bytes: usize) -> Self {
        FrameLimit(bytes.min(MAX_FRAME_BYTES))
    }

    pub fn bytes(&self) -> usize {
        self.0
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encode `frame` with its length prefix.
pub fn encode(frame: &WireFrame) -> Result<Vec<u8>, WireError> {
    let mut bytes = vec![0u8; PREFIX];
    bincode::serde::encode_into_std_write(frame, &mut bytes, config()).map_err(|e| WireError::Unencodable(e.to_string()))?;
    let length = u32::try_from(bytes.len() - PREFIX).map_err(|_| WireError::Unencodable("frame over 4 GiB".into()))?;
    bytes[..PREFIX].copy_from_slice(&length.to_le_bytes());
    Ok(bytes)
}

/// Encode `frame` without a length prefix, for carriers that keep the length elsewhere.
pub fn encode_payload(frame: &WireFrame) -> Result<Vec<u8>, WireError> {
    bincode::serde::encode_to_vec(frame, config()).map_err(|e| WireError::Unencodable(e.to_string()))
}

pub fn write_frame(writer: &mut impl Write, frame: &WireFrame) -> Result<(), WireError> {
    writer.write_all(&encode(frame)?)?;
    Ok(())
}

/// Decode one frame's payload (without its prefix). The whole payload must be one frame.
pub fn decode_payload(payload: &[u8], limit: FrameLimit) -> Result<WireFrame, WireError> {
    if payload.len() > limit.0 {
        return Err(WireError::TooLarge { length: payload.len(), limit: limit.0 });
    }
    let (frame, used) =
        bincode::serde::decode_from_slice(payload, config()).map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(WireError::Malformed(format!("{} trailing bytes", payload.len() - used)));
    }
    Ok(frame)
}

/// Reads frames from a stream, refusing any whose declared length exceeds the limit.
pub struct FrameReader<R> {
    reader: R,
    limit: FrameLimit,
}

impl<R: Read> FrameReader<R> {
    pub fn new(reader: R, limit: FrameLimit) -> Self {
        FrameReader { reader, limit }
    }

    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    pub fn read(&mut self) -> Result<WireFrame, WireError> {
        let mut prefix = [0u8; PREFIX];
        match self.reader.read_exact(&mut prefix) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
            other => other?,
        }
        let length = u32::from_le_bytes(prefix) as usize;
        if length > self.limit.0 {
            return Err(WireError::TooLarge { length, limit: self.limit.0 });
        }
        let mut payload = vec![0u8; length];
        self.reader.read_exact(&mut payload).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => WireError::Malformed("the stream ended inside a frame".into()),
            _ => WireError::Io(e),
        })?;
        decode_payload(&payload, self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jscell_engine::{FunctionHandle, Wait};
    use proptest::prelude::*;

    const LIMIT: FrameLimit = FrameLimit(1 << 20);

    fn frames() -> Vec<WireFrame> {
        vec![
            WireFrame::Request { id: 7, request: Request::Eval { source: "1 + 1".into(), timeout: None, wait: Wait::Async } },
            WireFrame::Reply { id: 7, result: Ok(Response::Value(Value::Array(vec![Value::Int(2), Value::String("é".into())]))) },
            WireFrame::HostCall { call: 1, function: HostFunctionId(3), args: vec![Value::Function(FunctionHandle(9))] },
            WireFrame::HostReply { call: 1, result: Err(HostError::type_error("nope")) },
            WireFrame::Ready { layers: vec![("seccomp".into(), true)] },
        ]
    }

    #[test]
    fn frames_round_trip_through_a_stream() {
        let mut stream = Vec::new();
        for frame in frames() {
            write_frame(&mut stream, &frame).unwrap();
        }
        let mut reader = FrameReader::new(stream.as_slice(), LIMIT);
        for frame in frames() {
            assert_eq!(reader.read().unwrap(), frame);
        }
        assert!(matches!(reader.read(), Err(WireError::Closed)));
    }

    #[test]
    fn oversized_and_truncated_frames_are_refused() {
        let huge = (u32::MAX).to_le_bytes();
        assert!(matches!(FrameReader::new(&huge[..], LIMIT).read(), Err(WireError::TooLarge { .. })));
        let mut frame = encode(&frames()[4]).unwrap();
        frame.extend_from_slice(&encode(&frames()[1]).unwrap()[..6]);
        let mut reader = FrameReader::new(frame.as_slice(), LIMIT);
        assert!(matches!(reader.read().unwrap(), WireFrame::Ready { .. }));
        assert!(matches!(reader.read(), Err(WireError::Malformed(_))));
    }

    /// Lengths inside a payload are claims too: a claimed huge string or list must fail on the
    /// bytes actually present, not allocate what it claims.
    #[test]
    fn claimed_lengths_inside_a_payload_are_not_trusted() {
        for frame in [WireFrame::Console { level: ConsoleLevel::Log, message: "x".into() }, frames()[2].clone()] {
            let encoded = encode(&frame).unwrap();
            let payload = &encoded[PREFIX..];
            // Replace the last length-like byte run with the largest varint bincode accepts.
            for at in 0..payload.len() {
                let mut forged = payload[..at].to_vec();
                forged.push(0xfd); // bincode's marker for a following u64
                forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
                forged.extend_from_slice(&payload[at..]);
                let _ = decode_payload(&forged, LIMIT);
            }
        }
    }

    #[test]
    fn every_value_variant_round_trips() {
        let values = vec![
            Value::Undefined,
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(0.5),
            Value::BigInt { negative: true, words: vec![1, 2] },
            Value::String("s".into()),
            Value::Bytes(vec![1]),
            Value::Object(vec![("k".into(), Value::Set(vec![Value::Date(1.0)]))]),
            Value::Map(vec![(Value::Int(1), Value::Function(FunctionHandle(2)))]),
            Value::HostFunction { id: HostFunctionId(4), mode: jscell_engine::CallMode::Async },
            Value::Serialized(vec![0x6f, 0x7b, 0]),
        ];
        let frame = WireFrame::HostCall { call: 1, function: HostFunctionId(0), args: values };
        assert_eq!(decode_payload(&encode(&frame).unwrap()[PREFIX..], LIMIT).unwrap(), frame);
    }

    /// A hostile guest nesting a value past any limit gets an error, not a host stack overflow.
    #[test]
    fn deeply_nested_values_are_refused_not_overflowing() {
        let depth = 1_000_000;
        // Array variant (index 8), one element, repeated; then Null (index 1).
        let mut payload = vec![10u8, 1, 0, 1]; // HostCall { call: 1, function: 0, args: [..1 item] }
        for _ in 0..depth {
            payload.extend_from_slice(&[8, 1]);
        }
        payload.push(1);
        let error = decode_payload(&payload, FrameLimit::new(1 << 24)).unwrap_err();
        assert!(error.to_string().contains("nested deeper"), "{error}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The parent's decoder on arbitrary bytes: an error or a frame, never a panic, never
        /// an allocation beyond the limit.
        #[test]
        fn arbitrary_bytes_never_break_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_payload(&bytes, FrameLimit::new(4096));
            let _ = FrameReader::new(bytes.as_slice(), FrameLimit::new(4096)).read();
        }

        /// Valid frames with corrupted bytes: still an error or a frame.
        #[test]
        fn corrupted_frames_never_break_the_decoder(index in 0usize..5, position in any::<usize>(), byte in any::<u8>()) {
            let mut encoded = encode(&frames()[index]).unwrap();
            let at = position % encoded.len();
            encoded[at] = byte;
            let _ = FrameReader::new(encoded.as_slice(), FrameLimit::new(4096)).read();
        }
    }
}
