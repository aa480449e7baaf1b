//! Bytes no honest encoder produces: wire frames with forged lengths or huge repetitive bodies,
//! V8 serialized data with forged claims and back-reference DAGs, and object keys that all
//! collide under FxHash.

use jscell_host::engine::{HostFunctionId, Response, Value};
use jscell_host::wire::{encode_payload, ToParent};

/// A bincode varint (the wire's integer encoding).
pub fn varint(n: u64) -> Vec<u8> {
    bincode::encode_to_vec(n, bincode::config::standard()).expect("an integer encodes")
}

/// The wire tag of a `Value` variant: the first byte of its encoding.
pub fn tag(value: &Value) -> u8 {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodable")[0]
}

/// A `Reply` to `id` whose value is `value_bytes`, raw: the value is the frame's last field.
pub fn reply_with_value(id: u64, value_bytes: &[u8]) -> Vec<u8> {
    let mut payload = encode_payload(&ToParent::Reply { id, result: Ok(Response::Value(Value::Undefined)) }).expect("encodable");
    payload.pop();
    payload.extend_from_slice(value_bytes);
    payload
}

/// A `HostCall` whose argument list is `args_bytes` (its length, then the values), raw.
pub fn host_call_with_args(call: u64, function: u32, args_bytes: &[u8]) -> Vec<u8> {
    let frame = ToParent::HostCall { call, function: HostFunctionId(function), args: Vec::new() };
    let mut payload = encode_payload(&frame).expect("encodable");
    payload.pop();
    payload.extend_from_slice(args_bytes);
    payload
}

/// `Value::Array` of `count` copies of the one-byte value `item`, raw.
pub fn repeated(item: u8, count: usize) -> Vec<u8> {
    let mut bytes = vec![tag(&Value::Array(Vec::new()))];
    bytes.extend(varint(count as u64));
    bytes.resize(bytes.len() + count, item);
    bytes
}

/// `Value::Serialized` holding `v8_bytes`.
pub fn serialized(v8_bytes: &[u8]) -> Vec<u8> {
    let mut bytes = vec![tag(&Value::Serialized(Vec::new()))];
    bytes.extend(varint(v8_bytes.len() as u64));
    bytes.extend_from_slice(v8_bytes);
    bytes
}

/// V8's own varint (7 bits a byte, little end first).
pub fn v8_varint(mut n: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            bytes.push(low);
            return bytes;
        }
        bytes.push(low | 0x80);
    }
}

/// A one-byte string in V8's format.
pub fn v8_string(text: &str) -> Vec<u8> {
    let mut bytes = vec![b'"'];
    bytes.extend(v8_varint(text.len() as u64));
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// An object whose every level refers twice to the level below: `levels` objects in the
/// data, 2^levels nodes once expanded. The levels sit in a dense array so each is complete
/// before the next refers to it; the array has id 0, level `i` id `i + 1`.
pub fn v8_dag(levels: u32) -> Vec<u8> {
    let mut bytes = vec![b'A'];
    bytes.extend(v8_varint(u64::from(levels)));
    for level in 0..levels {
        bytes.push(b'o');
        for key in ["a", "b"] {
            bytes.extend(v8_string(key));
            if level == 0 {
                bytes.push(b'0');
            } else {
                bytes.push(b'^');
                bytes.extend(v8_varint(u64::from(level)));
            }
        }
        bytes.push(b'{');
        bytes.extend(v8_varint(2));
    }
    bytes.push(b'$');
    bytes.extend(v8_varint(0));
    bytes.extend(v8_varint(u64::from(levels)));
    bytes
}

/// A dense array of one element with a named extra property `x` holding a DAG of `levels`.
pub fn v8_array_with_dag_property(levels: u32) -> Vec<u8> {
    let mut bytes = vec![b'A', 1, b'0'];
    bytes.extend(v8_string("x"));
    bytes.extend(v8_dag(levels));
    bytes.push(b'$');
    bytes.extend(v8_varint(1));
    bytes.extend(v8_varint(1));
    bytes
}

const SEED1: u64 = 0x243f6a8885a308d3;
const PREVENT_TRIVIAL_ZERO_COLLAPSE: u64 = 0xa4093822299f31d0;

fn multiply_mix(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    (full as u64) ^ ((full >> 64) as u64)
}

/// `count` distinct 32-byte ASCII keys with one and the same FxHash (rustc-hash 2). For a
/// 32-byte string FxHash mixes bytes 0..16 into `t`, then returns
/// `mix(SEED2 ^ bytes[16..24], t ^ bytes[24..32]) ^ 32`; choosing the last eight bytes equal to
/// `t` makes the second factor zero, so every such key hashes to the same value. About one
/// random choice of the first sixteen bytes in 256 gives a `t` that is all ASCII (control
/// characters included: any ASCII is valid UTF-8 and a valid JS string).
pub fn fx_colliding_keys(count: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(count);
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut ascii = || {
        // xorshift: any spread of printable bytes will do.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        u64::from_le_bytes(state.to_le_bytes().map(|b| b'!' + b % 90))
    };
    while keys.len() < count {
        let (x, y) = (ascii(), ascii());
        let t = multiply_mix(SEED1 ^ x, PREVENT_TRIVIAL_ZERO_COLLAPSE ^ y);
        if t.to_le_bytes().iter().all(u8::is_ascii) {
            let mut key = Vec::with_capacity(32);
            key.extend_from_slice(&x.to_le_bytes());
            key.extend_from_slice(&y.to_le_bytes());
            key.extend_from_slice(b"collide!");
            key.extend_from_slice(&t.to_le_bytes());
            keys.push(String::from_utf8(key).expect("ASCII"));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// The keys really collide in the hasher the parent's key cache used.
    #[test]
    fn the_colliding_keys_share_one_fxhash() {
        let keys = fx_colliding_keys(64);
        let hasher = rustc_hash::FxBuildHasher;
        let first = hasher.hash_one(keys[0].as_str());
        assert!(keys.iter().all(|key| hasher.hash_one(key.as_str()) == first));
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
    }

    #[test]
    fn crafted_replies_decode_as_the_frames_they_imitate() {
        let limit = jscell_host::wire::FrameLimit::new(1 << 20);
        let payload = reply_with_value(7, &repeated(tag(&Value::Null), 3));
        let frame: ToParent = jscell_host::wire::decode_payload(&payload, limit).unwrap();
        let expected = Value::Array(vec![Value::Null; 3]);
        assert_eq!(frame, ToParent::Reply { id: 7, result: Ok(Response::Value(expected)) });
    }
}
