//! The booted guest as a module of its own: the same code, with the linear memory of an instance
//! that has run `_initialize` and `jscell_boot` as its data. wasmtime maps such an image
//! copy-on-write, so a new runtime starts with QuickJS already set up instead of building it.
//! The guest has one mutable global, its stack pointer, which is back at its initial value
//! whenever an export has returned; everything else it keeps is in memory.

/// Sections of a wasm module this rewrites (the binary format's ids).
const MEMORY_SECTION: u8 = 5;
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;
const WASM_PAGE: usize = 64 << 10;
/// Zero runs shorter than this stay inside a data segment: a segment costs more to describe.
const MIN_ZERO_GAP: usize = 64;

/// `module` with its memory's initial size and contents replaced by `memory`.
pub fn with_memory(module: &[u8], memory: &[u8]) -> Result<Vec<u8>, String> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = module[..8].to_vec();
    let mut at = 8;
    let mut wrote_data = false;
    while at < module.len() {
        let id = module[at];
        let (size, body) = read_leb(module, at + 1).ok_or("a truncated section header")?;
        let end = body.checked_add(size as usize).filter(|&end| end <= module.len()).ok_or("a section past the end")?;
        match id {
            MEMORY_SECTION => section(&mut out, MEMORY_SECTION, &memory_section(&module[body..end], memory.len())?),
            DATA_COUNT_SECTION => return Err("the guest uses passive data segments, which an image cannot replace".into()),
            DATA_SECTION => {
                section(&mut out, DATA_SECTION, &data_section(memory));
                wrote_data = true;
            }
            _ => out.extend_from_slice(&module[at..end]),
        }
        at = end;
    }
    if !wrote_data {
        section(&mut out, DATA_SECTION, &data_section(memory));
    }
    Ok(out)
}

/// One memory whose minimum is `bytes`, keeping the original's maximum, if it has one.
fn memory_section(original: &[u8], bytes: usize) -> Result<Vec<u8>, String> {
    let (count, at) = read_leb(original, 0).ok_or("a truncated memory section")?;
    if count != 1 || original.len() <= at {
        return Err("the guest does not have exactly one memory".into());
    }
    let flags = original[at];
    let (_, after_min) = read_leb(original, at + 1).ok_or("a truncated memory section")?;
    if flags & !1 != 0 {
        return Err(format!("the guest's memory has flags {flags:#x} (shared or 64-bit)"));
    }
    let mut body = vec![1, flags];
    write_leb(&mut body, bytes.div_ceil(WASM_PAGE) as u64);
    body.extend_from_slice(&original[after_min..]);
    Ok(body)
}

/// Active segments for the non-zero runs of `memory` (fresh memory is zero already).
fn data_section(memory: &[u8]) -> Vec<u8> {
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < memory.len() {
        if memory[at] == 0 {
            at += 1;
            continue;
        }
        let start = at;
        let mut zeros = 0;
        while at < memory.len() && zeros < MIN_ZERO_GAP {
            zeros = if memory[at] == 0 { zeros + 1 } else { 0 };
            at += 1;
        }
        segments.push((start, at - zeros));
    }
    let mut body = Vec::new();
    write_leb(&mut body, segments.len() as u64);
    for (start, end) in segments {
        body.push(0); // active, memory 0
        body.push(0x41); // i32.const
        write_sleb(&mut body, start as i64);
        body.push(0x0b); // end
        write_leb(&mut body, (end - start) as u64);
        body.extend_from_slice(&memory[start..end]);
    }
    body
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    write_leb(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn read_leb(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_sleb(out: &mut Vec<u8>, mut value: i64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_zero_runs_become_segments() {
        let mut memory = vec![0u8; 3 * WASM_PAGE];
        memory[10] = 1;
        memory[12] = 2;
        memory[WASM_PAGE * 2] = 3;
        let body = data_section(&memory);
        assert_eq!(body[0], 2, "two segments: the close bytes share one");
        assert!(body.len() < 32);
    }

    #[test]
    fn leb_round_trips() {
        for value in [0u64, 1, 127, 128, 300, u32::MAX as u64] {
            let mut bytes = Vec::new();
            write_leb(&mut bytes, value);
            assert_eq!(read_leb(&bytes, 0), Some((value, bytes.len())));
        }
        let mut bytes = Vec::new();
        write_sleb(&mut bytes, 8_388_608);
        assert_eq!(bytes, [0x80, 0x80, 0x80, 0x04]);
    }
}
