//! The wire between the parent and a hardened guest: serde types, bincode-encoded, in
//! length-prefixed frames over a Unix socket. Each direction has its own: `Prepare` and `Start`
//! then `ToGuest` from the parent, a `StartReport` then `ToParent` from the guest, so a frame
//! can only be decoded as what the reader expects next. The parent
//! treats every frame from the guest as hostile (`decode_from_guest`): bounded in size, charged
//! against the runtime's value limits as it decodes, never allocating from a length it did not
//! receive the bytes for.

use std::io::{self, Read, Write};

use jscell_engine::{
    at_most, charged, AsyncCallId, ConsoleLevel, ConversionLimits, EngineConfig, EngineError, FunctionHandle, HostError,
    HostFunctionId, JsException, ModuleKey, Request, Response, Value,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::guest_bounds::{self, MAX_FRAME, MAX_RELEASE_BATCH, MAX_SANDBOX_LAYERS};

/// Bytes in the length prefix of every frame.
const PREFIX: usize = 4;
/// The most a frame reader asks of the stream in one read.
const READ_CHUNK: usize = 256 << 10;

/// No frame is ever larger, in either direction.
pub const MAX_FRAME_BYTES: usize = MAX_FRAME;

/// The parent's first frame to a guest: the memory cap the guest holds itself to (none when a
/// cgroup holds it) and how V8 runs. The guest then does all it can before it knows its engine
/// (sandbox, V8 start-up), so it can wait in a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepare {
    pub max_process_memory: Option<u64>,
    pub jitless: bool,
}

/// The parent's second frame: what to run the engine with; answered by a `StartReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub config: EngineConfig,
}

/// The guest's answer to `Start` (or, when its sandbox failed, to `Prepare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StartReport {
    /// The engine started and ran its bootstrap; each sandbox layer and whether it is active.
    Ready {
        #[serde(deserialize_with = "at_most::<MAX_SANDBOX_LAYERS, _, _>")]
        layers: Vec<(String, bool)>,
    },
    /// The engine could not start.
    StartFailed { error: EngineError },
}

/// Every frame the parent sends a running guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToGuest {
    /// A request for the engine, answered by `ToParent::Reply` with the same id.
    Request { id: u64, request: Request },
    /// The answer to `HostCall`.
    HostReply { call: u64, result: Result<Value, HostError> },
    /// The answer to `HostCallAsync`.
    AsyncComplete { call: AsyncCallId, result: Result<Value, HostError> },
    /// The answer to `ResolveModule`.
    Resolved { call: u64, result: Result<String, HostError> },
    /// The answer to `LoadModule`.
    ModuleSource { key: ModuleKey, result: Result<String, HostError> },
    /// On the lane only: a notice from the guest (console output, an async call, ...) was
    /// handled, and the turn is the guest's again.
    Noted,
    /// These function handles were released on the parent's side: the guest may forget them.
    Release { functions: Vec<FunctionHandle> },
    /// The caller of request `id` gave up on it (`EngineHandle::cancel`); the guest still
    /// answers it.
    Cancel { id: u64 },
}

/// Every frame a running guest sends the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToParent {
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
    /// JS holds these grants no more: the parent may release them.
    GrantsReleased {
        #[serde(deserialize_with = "at_most::<MAX_RELEASE_BATCH, _, _>")]
        grants: Vec<HostFunctionId>,
    },
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
    #[error("the other side stopped taking or sending a frame it had begun, for {0:?}")]
    Stalled(std::time::Duration),
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

    /// The largest frame accepted from a guest whose runtime has `limits`.
    pub fn for_guest(limits: ConversionLimits) -> Self {
        FrameLimit::new(guest_bounds::frame_limit(limits))
    }

    pub fn bytes(&self) -> usize {
        self.0
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encode `frame` with its length prefix.
pub fn encode(frame: &impl Serialize) -> Result<Vec<u8>, WireError> {
    let mut bytes = vec![0u8; PREFIX];
    bincode::serde::encode_into_std_write(frame, &mut bytes, config()).map_err(|e| WireError::Unencodable(e.to_string()))?;
    let length = u32::try_from(bytes.len() - PREFIX).map_err(|_| WireError::Unencodable("frame over 4 GiB".into()))?;
    bytes[..PREFIX].copy_from_slice(&length.to_le_bytes());
    Ok(bytes)
}

/// Encode `frame` without a length prefix, for carriers that keep the length elsewhere.
pub fn encode_payload(frame: &impl Serialize) -> Result<Vec<u8>, WireError> {
    bincode::serde::encode_to_vec(frame, config()).map_err(|e| WireError::Unencodable(e.to_string()))
}

pub fn write_frame(writer: &mut impl Write, frame: &impl Serialize) -> Result<(), WireError> {
    writer.write_all(&encode(frame)?)?;
    Ok(())
}

fn whole<T>(payload: &[u8], decoded: Result<(T, usize), bincode::error::DecodeError>) -> Result<T, WireError> {
    let (frame, used) = decoded.map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(WireError::Malformed(format!("{} trailing bytes", payload.len() - used)));
    }
    Ok(frame)
}

fn check_size(payload: &[u8], limit: FrameLimit) -> Result<(), WireError> {
    if payload.len() > limit.0 {
        return Err(WireError::TooLarge { length: payload.len(), limit: limit.0 });
    }
    Ok(())
}

/// Decode one frame's payload (without its prefix) from a trusted peer (the guest reads the
/// parent's frames so). The whole payload must be one frame.
pub fn decode_payload<F: DeserializeOwned>(payload: &[u8], limit: FrameLimit) -> Result<F, WireError> {
    check_size(payload, limit)?;
    whole(payload, bincode::serde::decode_from_slice(payload, config()))
}

/// Decode a frame from a guest, which may be compromised: at most `limit` bytes, and every
/// value in it charged against `limits` once, as the engine charges a value it sends (so a
/// frame an honest engine would not have sent fails). Returns the frame and what its values
/// were charged.
pub fn decode_from_guest<F: DeserializeOwned>(payload: &[u8], limit: FrameLimit, limits: ConversionLimits) -> Result<(F, usize), WireError> {
    check_size(payload, limit)?;
    let (decoded, spent) = charged(limits, || within_claim_bound(payload));
    Ok((whole(payload, decoded)?, spent))
}

/// bincode reserves a string's claimed length before it reads the bytes, refusing only claims
/// past its compile-time limit, which it charges with the decoded size of everything (a variant
/// tag of one byte counts four). Decoding under the smallest limit of at least sixteen times the
/// payload keeps what a claim can reserve within that (at least 1 MiB) of the bytes that arrived.
fn within_claim_bound<F: DeserializeOwned>(payload: &[u8]) -> Result<(F, usize), bincode::error::DecodeError> {
    macro_rules! smallest_limit {
        ($($bits:literal)+) => {
            $(
                if payload.len().saturating_mul(16) <= 1 << $bits {
                    let config = bincode::config::standard().with_limit::<{ 1 << $bits }>();
                    return bincode::serde::decode_from_slice(payload, config);
                }
            )+
        };
    }
    smallest_limit!(20 24 28);
    bincode::serde::decode_from_slice(payload, config())
}

/// Reads frames from a stream as their bytes arrive, refusing any whose declared length exceeds
/// the limit. Nothing is reserved from a declared length: the buffer grows with what arrives.
pub struct FrameReader<R> {
    reader: R,
    limit: FrameLimit,
    prefix: [u8; PREFIX],
    /// Bytes of the prefix read so far; the payload follows once it is whole.
    prefix_read: usize,
    payload: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(reader: R, limit: FrameLimit) -> Self {
        FrameReader { reader, limit, prefix: [0; PREFIX], prefix_read: 0, payload: Vec::new() }
    }

    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Read what the stream has of the current frame: its payload once whole, or `None` when
    /// a read timed out first (what arrived is kept, and the next call continues the frame).
    pub fn poll(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        while self.prefix_read < PREFIX {
            match self.reader.read(&mut self.prefix[self.prefix_read..]) {
                Ok(0) if self.prefix_read == 0 => return Err(WireError::Closed),
                Ok(0) => return Err(WireError::Malformed("the stream ended inside a frame".into())),
                Ok(read) => self.prefix_read += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Ok(None),
                Err(e) => return Err(WireError::Io(e)),
            }
        }
        let length = u32::from_le_bytes(self.prefix) as usize;
        if length > self.limit.0 {
            return Err(WireError::TooLarge { length, limit: self.limit.0 });
        }
        // One read at a time, into room for what may come now: a caller polling with a
        // timeout gets control back after every read, however slowly the bytes trickle in.
        let received = self.payload.len();
        let room = (length - received).min(READ_CHUNK);
        self.payload.resize(received + room, 0);
        let read = self.reader.read(&mut self.payload[received..]);
        self.payload.truncate(received + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) if room > 0 => return Err(WireError::Malformed("the stream ended inside a frame".into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted || timed_out(&e) => return Ok(None),
            Err(e) => return Err(WireError::Io(e)),
        }
        if self.payload.len() < length {
            return Ok(None);
        }
        self.prefix_read = 0;
        Ok(Some(std::mem::take(&mut self.payload)))
    }

    /// Wait for the next whole frame and decode it as a trusted peer's (`decode_payload`).
    pub fn read<F: DeserializeOwned>(&mut self) -> Result<F, WireError> {
        loop {
            if let Some(payload) = self.poll()? {
                return decode_payload(&payload, self.limit);
            }
        }
    }
}

/// Whether a read or write gave up because its socket timeout passed.
pub fn timed_out(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jscell_engine::{FunctionHandle, Wait};
    use proptest::prelude::*;

    const LIMIT: FrameLimit = FrameLimit(1 << 20);

    fn to_guest() -> Vec<ToGuest> {
        vec![
            ToGuest::Request { id: 7, request: Request::Eval { source: "1 + 1".into(), timeout: None, wait: Wait::Async } },
            ToGuest::HostReply { call: 1, result: Err(HostError::type_error("nope")) },
            ToGuest::Cancel { id: 7 },
        ]
    }

    fn to_parent() -> Vec<ToParent> {
        vec![
            ToParent::Reply { id: 7, result: Ok(Response::Value(Value::Array(vec![Value::Int(2), Value::String("é".into())]))) },
            ToParent::HostCall { call: 1, function: HostFunctionId(3), args: vec![Value::Function(FunctionHandle(9))] },
            ToParent::GrantsReleased { grants: vec![HostFunctionId(4)] },
        ]
    }

    #[test]
    fn frames_round_trip_through_a_stream() {
        let mut stream = Vec::new();
        write_frame(&mut stream, &Start { config: Default::default() }).unwrap();
        for frame in to_guest() {
            write_frame(&mut stream, &frame).unwrap();
        }
        let mut reader = FrameReader::new(stream.as_slice(), LIMIT);
        assert_eq!(reader.read::<Start>().unwrap(), Start { config: Default::default() });
        for frame in to_guest() {
            assert_eq!(reader.read::<ToGuest>().unwrap(), frame);
        }
        assert!(matches!(reader.read::<ToGuest>(), Err(WireError::Closed)));
    }

    /// A frame of one direction does not pass as the other's: their variants differ in number
    /// and shape, so the reader that expects a guest's frame refuses the parent's.
    #[test]
    fn a_frame_decodes_only_as_its_own_direction() {
        let request = encode_payload(&to_guest()[0]).unwrap();
        assert!(decode_from_guest::<ToParent>(&request, LIMIT, GUEST_LIMITS).is_err());
        let ready = encode_payload(&StartReport::Ready { layers: Vec::new() }).unwrap();
        assert!(decode_from_guest::<ToParent>(&ready, LIMIT, GUEST_LIMITS).is_err());
    }

    #[test]
    fn oversized_and_truncated_frames_are_refused() {
        let huge = (u32::MAX).to_le_bytes();
        assert!(matches!(FrameReader::new(&huge[..], LIMIT).read::<ToParent>(), Err(WireError::TooLarge { .. })));
        let mut frame = encode(&StartReport::Ready { layers: vec![("seccomp".into(), true)] }).unwrap();
        frame.extend_from_slice(&encode(&to_parent()[0]).unwrap()[..6]);
        let mut reader = FrameReader::new(frame.as_slice(), LIMIT);
        assert!(matches!(reader.read::<StartReport>().unwrap(), StartReport::Ready { .. }));
        assert!(matches!(reader.read::<ToParent>(), Err(WireError::Malformed(_))));
    }

    /// Lengths inside a payload are claims too: a claimed huge string or list must fail on the
    /// bytes actually present, not allocate what it claims.
    #[test]
    fn claimed_lengths_inside_a_payload_are_not_trusted() {
        for frame in [ToParent::Console { level: ConsoleLevel::Log, message: "x".into() }, to_parent()[1].clone()] {
            let encoded = encode(&frame).unwrap();
            let payload = &encoded[PREFIX..];
            // Replace the last length-like byte run with the largest varint bincode accepts.
            for at in 0..payload.len() {
                let mut forged = payload[..at].to_vec();
                forged.push(0xfd); // bincode's marker for a following u64
                forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
                forged.extend_from_slice(&payload[at..]);
                let _ = decode_payload::<ToParent>(&forged, LIMIT);
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
        let frame = ToParent::HostCall { call: 1, function: HostFunctionId(0), args: values };
        assert_eq!(decode_payload::<ToParent>(&encode(&frame).unwrap()[PREFIX..], LIMIT).unwrap(), frame);
    }

    /// A hostile guest nesting a value past any limit gets an error, not a host stack overflow.
    #[test]
    fn deeply_nested_values_are_refused_not_overflowing() {
        let depth = 1_000_000;
        // Array variant (index 8), one element, repeated; then Null (index 1).
        let mut payload = vec![1u8, 1, 0, 1]; // HostCall { call: 1, function: 0, args: [..1 item] }
        for _ in 0..depth {
            payload.extend_from_slice(&[8, 1]);
        }
        payload.push(1);
        let error = decode_payload::<ToParent>(&payload, FrameLimit::new(1 << 24)).unwrap_err();
        assert!(error.to_string().contains("nested deeper"), "{error}");
    }

    const GUEST_LIMITS: ConversionLimits = ConversionLimits { max_depth: 64, max_bytes: 4096 };

    fn from_guest(frame: &ToParent) -> Result<(ToParent, usize), WireError> {
        decode_from_guest(&encode_payload(frame).unwrap(), LIMIT, GUEST_LIMITS)
    }

    fn reply(value: Value) -> ToParent {
        ToParent::Reply { id: 1, result: Ok(Response::Value(value)) }
    }

    /// A value from a guest costs what the engine charges for it: eight bytes a node plus the
    /// bytes of strings, keys and byte arrays; one node over the limit is refused.
    #[test]
    fn a_guest_frame_is_charged_as_the_engine_charges_its_values() {
        let nulls = |count| reply(Value::Array(vec![Value::Null; count]));
        assert_eq!(from_guest(&nulls(511)).unwrap().1, 4096);
        assert!(from_guest(&nulls(512)).unwrap_err().to_string().contains("max_serialization_bytes (4096 bytes)"));
        let object = reply(Value::Object(vec![("key".into(), Value::String("text".into()))]));
        assert_eq!(from_guest(&object).unwrap().1, 8 + (8 + 3) + (8 + 4));
        let bytes = reply(Value::Bytes(vec![0; 10]));
        assert_eq!(from_guest(&bytes).unwrap().1, 8 + 8 + 10);
        // Several values in one frame share one budget.
        let args = ToParent::HostCall { call: 1, function: HostFunctionId(0), args: vec![Value::String("x".repeat(3000)); 2] };
        assert!(from_guest(&args).is_err());
        let deep = (0..65).fold(Value::Null, |inner, _| Value::Array(vec![inner]));
        assert!(from_guest(&reply(deep)).unwrap_err().to_string().contains("max_serialization_depth (64)"));
    }

    /// An honest engine sends serialized data only as a whole value, and never a host grant or
    /// host stream.
    #[test]
    fn a_guest_cannot_send_grants_or_nested_serialized_data() {
        let grant = reply(Value::HostFunction { id: HostFunctionId(0), mode: jscell_engine::CallMode::Sync });
        assert!(from_guest(&grant).unwrap_err().to_string().contains("host function"));
        let host_stream = reply(Value::HostStream { source: HostFunctionId(0), high_water_mark: 1 });
        assert!(from_guest(&host_stream).unwrap_err().to_string().contains("host stream"));
        // A stream of the guest's own travels like its functions do.
        assert!(from_guest(&reply(Value::Stream(jscell_engine::FunctionHandle(3)))).is_ok());
        let nested = reply(Value::Array(vec![Value::Serialized(vec![b'0'])]));
        assert!(from_guest(&nested).unwrap_err().to_string().contains("serialized data inside"));
        assert_eq!(from_guest(&reply(Value::Serialized(vec![b'0']))).unwrap().1, 8);
        // Trusted peers (the parent's frames to the guest) carry grants.
        assert!(decode_payload::<ToParent>(&encode_payload(&grant).unwrap(), LIMIT).is_ok());
    }

    /// Serialized data is checked against what remains of the frame's budget: a back-reference
    /// DAG is charged as what it expands to.
    #[test]
    fn serialized_data_from_a_guest_is_charged_as_it_expands() {
        // [o, {a: o, b: o}, ...]: each level refers twice to the one before.
        let mut dag = vec![b'A', 12];
        for level in 0u8..12 {
            dag.push(b'o');
            for key in [b'a', b'b'] {
                dag.extend([b'"', 1, key]);
                match level {
                    0 => dag.push(b'0'),
                    _ => dag.extend([b'^', level]),
                }
            }
            dag.extend([b'{', 2]);
        }
        dag.extend([b'$', 0, 12]);
        assert!(from_guest(&reply(Value::Serialized(dag))).unwrap_err().to_string().contains("max_serialization_bytes"));
    }

    /// A stream whose reads time out mid-frame: the frame arrives whole once its bytes have.
    #[test]
    fn a_frame_split_by_read_timeouts_arrives_whole() {
        struct Trickle(Vec<u8>, bool);
        impl Read for Trickle {
            fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                self.1 = !self.1;
                if self.1 || self.0.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                buffer[0] = self.0.remove(0);
                Ok(1)
            }
        }
        let frame = to_parent()[0].clone();
        let mut reader = FrameReader::new(Trickle(encode(&frame).unwrap(), false), LIMIT);
        let payload = loop {
            if let Some(payload) = reader.poll().unwrap() {
                break payload;
            }
        };
        assert_eq!(decode_payload::<ToParent>(&payload, LIMIT).unwrap(), frame);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The decoders on arbitrary bytes: an error or a frame, never a panic, never an
        /// allocation beyond the limit.
        #[test]
        fn arbitrary_bytes_never_break_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_payload::<ToGuest>(&bytes, FrameLimit::new(4096));
            let _ = decode_from_guest::<ToParent>(&bytes, FrameLimit::new(4096), GUEST_LIMITS);
            let _ = decode_from_guest::<StartReport>(&bytes, FrameLimit::new(4096), GUEST_LIMITS);
            let _ = FrameReader::new(bytes.as_slice(), FrameLimit::new(4096)).read::<ToParent>();
        }

        /// Arbitrary serialized data in a guest's reply: an error or a frame.
        #[test]
        fn arbitrary_serialized_data_never_breaks_the_guest_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_guest(&reply(Value::Serialized(bytes)));
        }

        /// Valid frames with corrupted bytes: still an error or a frame.
        #[test]
        fn corrupted_frames_never_break_the_decoder(index in 0usize..3, position in any::<usize>(), byte in any::<u8>()) {
            let mut encoded = encode(&to_parent()[index]).unwrap();
            let at = position % encoded.len();
            encoded[at] = byte;
            let _ = FrameReader::new(encoded.as_slice(), FrameLimit::new(4096)).read::<ToParent>();
            let _ = decode_from_guest::<ToParent>(&encoded[PREFIX..], FrameLimit::new(4096), GUEST_LIMITS);
        }
    }
}
