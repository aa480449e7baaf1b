#!/usr/bin/env node
// Tests the web globals (web/js, the script jscell_web::SCRIPT the build assembles) against
// Node's native implementations:
//   node tests/streams/web_globals_against_node.js <script.js>
// (tests/python/test_web_globals.py writes the script out and runs this.)
//
// The bundle is evaluated in a fresh vm context, which has only V8's builtins
// (plus the timer functions given to it), like the embedded engines. Each
// comparative case is one async function: its source is compiled both in the
// main context, where it sees Node's natives, and in the vm context, where it
// sees ours, and the JSON of the two results must be equal. Spec cases cover
// the places where Node departs from the standards; they run in the vm
// context only, against expected values.
"use strict";

const fs = require("fs");
const vm = require("vm");

const CASE_TIMEOUT_MS = 5000;

const INSTALLED_NAMES = [
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest",
  "ReadableStreamDefaultController", "ReadableByteStreamController", "WritableStream",
  "WritableStreamDefaultWriter", "WritableStreamDefaultController", "TransformStream",
  "TransformStreamDefaultController", "ByteLengthQueuingStrategy", "CountQueuingStrategy", "DOMException",
  "Event", "EventTarget", "AbortController", "AbortSignal", "TextEncoder", "TextDecoder",
  "TextEncoderStream", "TextDecoderStream",
];

// Uncaught exceptions (listener errors are reported as such) are collected
// by main() for the cases to inspect instead of ending the process.
const uncaught = [];

function takeUncaught() {
  return uncaught.splice(0);
}

// Compiled in each context, so that its instanceof checks and constructors
// are that context's.
function makeHelpers(host) {
  const describe = (error) => {
    if (error !== null && typeof error === "object" && error.constructor?.name === "DOMException") {
      return { type: "DOMException", name: error.name, message: error.message, code: error.code };
    }
    if (error instanceof Error) return { type: error.constructor.name, name: error.name };
    return { thrown: error === undefined ? "<undefined>" : error };
  };
  const helpers = {
    describe,
    attempt(fn) {
      try {
        return { ok: fn() };
      } catch (error) {
        return { error: describe(error) };
      }
    },
    async attemptAsync(fn) {
      try {
        return { ok: await fn() };
      } catch (error) {
        return { error: describe(error) };
      }
    },
    bytes: (view) => Array.from(view),
    codeUnits: (string) => Array.from(string, (c) => c.codePointAt(0).toString(16)).join(" "),
    // FNV-1a over numbers, for results too large to compare in full.
    hash(values) {
      let h = 0x811c9dc5;
      for (const v of values) h = Math.imul(h ^ v, 0x01000193) >>> 0;
      return h;
    },
    hashString(string) {
      let h = 0x811c9dc5;
      for (let i = 0; i < string.length; i++) h = Math.imul(h ^ string.charCodeAt(i), 0x01000193) >>> 0;
      return h;
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    async uncaught() {
      await helpers.sleep(5);
      return host.takeUncaught();
    },
    streamOf(chunks) {
      return new ReadableStream({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      });
    },
    async readAll(readable) {
      const reader = readable.getReader();
      const chunks = [];
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return { chunks };
          chunks.push(value);
        }
      } catch (error) {
        return { chunks, error: describe(error) };
      }
    },
    // Writes chunks to a transform stream's writable side while reading its
    // readable side; write and close failures show up in the read result.
    async transformAll(transform, chunks) {
      const writer = transform.writable.getWriter();
      const result = helpers.readAll(transform.readable);
      for (const chunk of chunks) writer.write(chunk).catch(() => {});
      writer.close().catch(() => {});
      return result;
    },
  };
  return helpers;
}

// Byte sequences for the UTF-8 decoder, covering every class of error.
function utf8Samples() {
  return {
    ascii: [0x41, 0x42, 0x43],
    valid: [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x8f, 0xbf, 0xbf, 0x7a],
    overlong2: [0xc0, 0x80, 0xc1, 0xbf],
    overlong3: [0xe0, 0x80, 0x80, 0xe0, 0x9f, 0xbf],
    overlong4: [0xf0, 0x80, 0x80, 0x80, 0xf0, 0x8f, 0xbf, 0xbf],
    surrogateLead: [0xed, 0xa0, 0x80],
    surrogateTrail: [0xed, 0xbf, 0xbf],
    surrogatePair: [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
    aboveMax: [0xf4, 0x90, 0x80, 0x80],
    leadF5: [0xf5, 0x80, 0x80, 0x80],
    leadF7: [0xf7, 0xbf, 0xbf, 0xbf],
    fiveByte: [0xf8, 0x88, 0x80, 0x80, 0x80],
    sixByte: [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
    feff: [0xfe, 0xff, 0x41],
    truncated2: [0xc3, 0x41],
    truncated3: [0xe2, 0x82, 0x41],
    truncated4: [0xf0, 0x9f, 0x98, 0x41],
    truncatedAtEnd3: [0x41, 0xe2, 0x82],
    truncatedAtEnd4: [0x41, 0xf0, 0x9f, 0x98],
    strayContinuation: [0x80, 0x41, 0xbf, 0x80, 0x80],
    leadThenLead: [0xe2, 0xf0, 0x9f, 0x98, 0x80],
    mixed: [0x41, 0xc3, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0xff, 0xc3, 0xa9],
    bom: [0xef, 0xbb, 0xbf, 0x41],
  };
}

const CASES = {
  // ---- TextEncoder ----

  async encoderBasics(h) {
    const encoder = new TextEncoder();
    const inputs = [
      "", "a", "abc", "\u00e9", "\u20ac", "\u{1f600}", "a\u{1f600}b", "\ud800", "\udc00", "\udc00\ud800",
      "\ud800a", "a\ud800", "\ud83d\ude00\ud83d", "\0\x7f\x80\u07ff\u0800\uffff", "\ufeff", "\u{10ffff}",
    ];
    return {
      encoding: encoder.encoding,
      encoded: inputs.map((s) => h.bytes(encoder.encode(s))),
      conversions: [undefined, null, 123, true, { toString: () => "x" }].map((v) => h.bytes(encoder.encode(v))),
      noArgument: h.bytes(encoder.encode()),
      symbol: h.attempt(() => encoder.encode(Symbol("s"))),
      exactBuffer: encoder.encode("h\u00e9llo\u{1f600}").buffer.byteLength,
      isUint8Array: encoder.encode("x") instanceof Uint8Array,
      tag: Object.prototype.toString.call(encoder),
      lengths: [TextEncoder.length, encoder.encode.length, encoder.encodeInto.length],
      keys: Object.keys(TextEncoder.prototype).sort(),
    };
  },

  async encoderLarge(h) {
    const encoder = new TextEncoder();
    const ascii = "abcdefghij".repeat(100000);
    const mixed = "a\u00e9\u20ac\u{1f600}\ud800z".repeat(50000);
    return [ascii, mixed].map((s) => {
      const bytes = encoder.encode(s);
      return [bytes.length, h.hash(bytes)];
    });
  },

  async encodeInto(h) {
    const encoder = new TextEncoder();
    const strings = [
      "", "a", "abc", "\u00e9", "\u20ac", "\u{1f600}", "a\u{1f600}b", "\ud800", "\udc00x", "\ud800\ud800",
      "ab\u20ac\u{1f600}", "\u00e9\u00e9\u00e9", "x\ud83d", "\ud83d\ude00\ud83d\ude00",
    ];
    const results = [];
    for (const s of strings) {
      for (let size = 0; size <= 10; size++) {
        const buffer = new Uint8Array(size + 2).fill(0xaa);
        const result = encoder.encodeInto(s, buffer.subarray(1, 1 + size));
        results.push([s, size, Object.keys(result), result.read, result.written, h.bytes(buffer)]);
      }
    }
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    return {
      results,
      shared: [encoder.encodeInto("\u00e9!", shared), h.bytes(shared)],
      errors: [
        h.attempt(() => encoder.encodeInto("a", new Uint16Array(4))),
        h.attempt(() => encoder.encodeInto("a", new Int8Array(4))),
        h.attempt(() => encoder.encodeInto("a", new DataView(new ArrayBuffer(4)))),
        h.attempt(() => encoder.encodeInto("a", new ArrayBuffer(4))),
        h.attempt(() => encoder.encodeInto("a", [0, 0])),
        h.attempt(() => encoder.encodeInto("a")),
      ],
    };
  },

  // ---- TextDecoder ----

  async decoderConstruction(h) {
    const labels = [
      undefined, "utf-8", "UTF-8", " utf-8 ", "\t\n\f\rutf8\r\n", "unicode-1-1-utf-8", "unicode11utf8",
      "unicode20utf8", "x-unicode20utf8", "UtF8", "utf-16", "utf-16le", "UTF-16LE", "utf-16be", "unicodefeff",
      "unicodefffe", "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "\u00a0utf-8", "utf 8", "utf-7",
      "utf-32", "", "foo", "replacement", "iso-2022-kr", null, 123,
    ];
    const describeDecoder = (d) => [d.encoding, d.fatal, d.ignoreBOM];
    return {
      labels: labels.map((label) => h.attempt(() => describeDecoder(new TextDecoder(label)))),
      symbolLabel: h.attempt(() => new TextDecoder(Symbol("s"))),
      options: [undefined, null, {}, { fatal: true }, { ignoreBOM: 1 }, { fatal: "", ignoreBOM: [] }, "x", 5].map(
        (options) => h.attempt(() => describeDecoder(new TextDecoder("utf-8", options))),
      ),
      tag: Object.prototype.toString.call(new TextDecoder()),
      lengths: [TextDecoder.length, TextDecoder.prototype.decode.length],
      keys: Object.keys(TextDecoder.prototype).sort(),
      brand: h.attempt(() => TextDecoder.prototype.decode.call({}, new Uint8Array(1))),
      encodingBrand: h.attempt(() => Object.getOwnPropertyDescriptor(TextDecoder.prototype, "encoding").get.call({})),
    };
  },

  async decodeAllTwoByteSequences(h) {
    const decoder = new TextDecoder();
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const replaced = [];
    const fatalResults = [];
    const bytes = new Uint8Array(2);
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        bytes[0] = a;
        bytes[1] = b;
        replaced.push(decoder.decode(bytes));
        try {
          fatal.decode(bytes);
          fatalResults.push(1);
        } catch {
          fatalResults.push(0);
        }
      }
    }
    const singles = [];
    for (let a = 0; a < 256; a++) singles.push(decoder.decode(new Uint8Array([a])));
    return { singles, replaced, fatal: fatalResults.join("") };
  },

  async decodeThreeAndFourByteSequences(h) {
    const decoder = new TextDecoder();
    const interesting = [
      0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
      0xf4, 0xf5, 0xff,
    ];
    const leads = [0x80, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xff];
    const three = [];
    const four = [];
    for (const a of leads) {
      for (const b of interesting) {
        for (const c of interesting) {
          three.push(decoder.decode(new Uint8Array([a, b, c])));
          if (a < 0xf0 || a > 0xf7) continue;
          for (const d of interesting) four.push(decoder.decode(new Uint8Array([a, b, c, d])));
        }
      }
    }
    return { three, four };
  },

  async decodeSamples(h) {
    const samples = SAMPLES;
    const result = {};
    for (const [name, bytes] of Object.entries(samples)) {
      const input = new Uint8Array(bytes);
      result[name] = {
        replaced: h.codeUnits(new TextDecoder().decode(input)),
        fatal: h.attempt(() => h.codeUnits(new TextDecoder("utf-8", { fatal: true }).decode(input))),
        ignoreBOM: h.codeUnits(new TextDecoder("utf-8", { ignoreBOM: true }).decode(input)),
      };
    }
    return result;
  },

  // Every way of cutting each sample into two or three chunks, and byte by
  // byte, must decode as the whole does.
  async decodeStreamingSplits(h) {
    const samples = SAMPLES;
    const decodeChunks = (chunks, options) => {
      const decoder = new TextDecoder("utf-8", options);
      let out = "";
      for (const chunk of chunks) out += decoder.decode(chunk, { stream: true });
      return h.codeUnits(out + decoder.decode());
    };
    const result = {};
    for (const [name, bytes] of Object.entries(samples)) {
      const input = new Uint8Array(bytes);
      const n = input.length;
      const outputs = [];
      for (const options of [{}, { fatal: true }, { ignoreBOM: true }]) {
        for (let i = 0; i <= n; i++) {
          outputs.push(h.attempt(() => decodeChunks([input.subarray(0, i), input.subarray(i)], options)));
          for (let j = i; j <= n; j++) {
            const chunks = [input.subarray(0, i), input.subarray(i, j), input.subarray(j)];
            outputs.push(h.attempt(() => decodeChunks(chunks, options)));
          }
        }
        outputs.push(h.attempt(() => decodeChunks(Array.from(input, (b) => new Uint8Array([b])), options)));
      }
      result[name] = outputs;
    }
    return result;
  },

  async decodeStreamingState(h) {
    const decoder = new TextDecoder();
    const steps = [
      decoder.decode(new Uint8Array([0xe2, 0x82]), { stream: true }),
      decoder.decode(new Uint8Array([0xac, 0xf0]), { stream: true }),
      decoder.decode(),
      decoder.decode(new Uint8Array([0x9f, 0x98, 0x80])),
      decoder.decode(new Uint8Array([0xf0, 0x9f]), { stream: true }),
      decoder.decode(new Uint8Array([0x98]), { stream: true }),
      decoder.decode(undefined, { stream: true }),
      decoder.decode(new Uint8Array([0x80, 0x41]), { stream: true }),
      decoder.decode(new Uint8Array([0xc3])),
      decoder.decode(new Uint8Array([0xa9])),
    ];
    const fatal = new TextDecoder("utf-8", { fatal: true });
    const fatalSteps = [
      h.attempt(() => fatal.decode(new Uint8Array([0xe2, 0x82]), { stream: true })),
      h.attempt(() => fatal.decode()),
      h.attempt(() => fatal.decode(new Uint8Array([0x41]))),
      h.attempt(() => fatal.decode(new Uint8Array([0x41, 0xff, 0x42]), { stream: true })),
      h.attempt(() => fatal.decode(new Uint8Array([0x43]), { stream: true })),
      h.attempt(() => fatal.decode(new Uint8Array([0xe2, 0x41]), { stream: true })),
      h.attempt(() => fatal.decode(new Uint8Array([0x42]), { stream: true })),
      h.attempt(() => fatal.decode(new Uint8Array([0xe2]), { stream: true })),
      h.attempt(() => fatal.decode(new Uint8Array([0x82, 0xac]))),
    ];
    return { steps: steps.map(h.codeUnits), fatalSteps };
  },

  async decodeBOM(h) {
    const run = (label, options, chunks) => {
      const decoder = new TextDecoder(label, options);
      const out = chunks.map((c) => (c === null ? decoder.decode() : decoder.decode(new Uint8Array(c), { stream: true })));
      return out.map(h.codeUnits);
    };
    const B = [0xef, 0xbb, 0xbf];
    return [
      run("utf-8", {}, [[...B, 0x41], null]),
      run("utf-8", { ignoreBOM: true }, [[...B, 0x41], null]),
      run("utf-8", {}, [[...B, ...B, 0x41], null]),
      run("utf-8", {}, [[0x41, ...B], null]),
      run("utf-8", {}, [[0xef], [0xbb], [0xbf], [0x41], null]),
      run("utf-8", {}, [[], [...B], null]),
      run("utf-8", {}, [[...B], [...B], null]),
      run("utf-8", {}, [[...B], null, [...B, 0x42], null]),
      run("utf-8", {}, [[0xef, 0xbb], [0x41], null]),
      run("utf-8", {}, [[0xef, 0xbb], null]),
      run("utf-8", { ignoreBOM: true }, [[0xef], [0xbb, 0xbf], null]),
      run("utf-16le", {}, [[0xff, 0xfe, 0x41, 0x00], null]),
      run("utf-16le", {}, [[0xff], [0xfe], [0x41], [0x00], null]),
      run("utf-16le", { ignoreBOM: true }, [[0xff, 0xfe, 0x41, 0x00], null]),
      run("utf-16le", {}, [[0xfe, 0xff, 0x41, 0x00], null]),
      run("utf-16be", {}, [[0xfe, 0xff, 0x00, 0x41], null]),
      run("utf-16be", {}, [[0xff, 0xfe, 0x00, 0x41], null]),
      run("utf-16be", { ignoreBOM: true }, [[0xfe, 0xff, 0x00, 0x41], null]),
      [new TextDecoder().decode(new Uint8Array(B)), new TextDecoder().decode(new Uint8Array([...B, ...B]))].map(h.codeUnits),
    ];
  },

  async decodeInputTypes(h) {
    const decoder = new TextDecoder();
    const buffer = new TextEncoder().encode("hello world!").buffer;
    const shared = new SharedArrayBuffer(3);
    new Uint8Array(shared).set([0x61, 0x62, 0x63]);
    const inputs = [
      new Uint8Array(buffer), buffer, new DataView(buffer, 2, 3), new Uint16Array(buffer, 2, 2),
      new Int8Array(buffer, 1), new Uint8Array(buffer, 3, 0), new Uint8ClampedArray(buffer, 6),
      new Float64Array(buffer, 0, 1), new BigInt64Array(buffer, 0, 1), shared, new Uint8Array(shared, 1),
    ];
    return {
      inputs: inputs.map((input) => h.codeUnits(decoder.decode(input))),
      none: [decoder.decode(), decoder.decode(undefined), decoder.decode(undefined, { stream: true })],
      invalid: [null, "abc", 123, [0x61], {}, { buffer, byteOffset: 0, byteLength: 3 }].map((input) =>
        h.attempt(() => decoder.decode(input)),
      ),
      options: [null, undefined, {}, { stream: 0 }, "s", 1].map((options) =>
        h.attempt(() => decoder.decode(new Uint8Array([0x41]), options)),
      ),
    };
  },

  async decodeUtf16(h) {
    const inputs = {
      text: [0x61, 0x00, 0xe9, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde, 0x7a, 0x00],
      loneLead: [0x00, 0xd8, 0x41, 0x00],
      loneTrail: [0x00, 0xdc, 0x41, 0x00],
      leadAtEnd: [0x41, 0x00, 0x00, 0xd8],
      leadLead: [0x00, 0xd8, 0x00, 0xd8, 0x00, 0xdc],
      oddLength: [0x41, 0x00, 0x42],
      leadAndOddByte: [0x00, 0xd8, 0x41],
      reversedPair: [0x00, 0xdc, 0x00, 0xd8],
    };
    const result = {};
    for (const label of ["utf-16le", "utf-16be"]) {
      for (const [name, bytes] of Object.entries(inputs)) {
        const input = new Uint8Array(label === "utf-16le" ? bytes : swapPairs(bytes));
        const outputs = [];
        for (const options of [{}, { fatal: true }]) {
          outputs.push(h.attempt(() => h.codeUnits(new TextDecoder(label, options).decode(input))));
          for (let i = 0; i <= input.length; i++) {
            outputs.push(
              h.attempt(() => {
                const decoder = new TextDecoder(label, options);
                const head = decoder.decode(input.subarray(0, i), { stream: true });
                return h.codeUnits(head + decoder.decode(input.subarray(i)));
              }),
            );
          }
        }
        result[`${label} ${name}`] = outputs;
      }
    }
    return result;
    function swapPairs(bytes) {
      const out = bytes.slice();
      for (let i = 0; i + 1 < out.length; i += 2) [out[i], out[i + 1]] = [out[i + 1], out[i]];
      return out;
    }
  },

  // Long inputs exercise the chunked string building: ASCII runs around the
  // direct-copy threshold and surrogate pairs across chunk boundaries.
  async decodeLarge(h) {
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    const strings = [
      "abcdefghij".repeat(200000),
      "\u00e9".repeat(10000),
      "\u{1f600}".repeat(5000),
      "x".repeat(8191) + "\u{1f600}" + "y".repeat(9000),
      Array.from({ length: 3000 }, (_, i) => "a".repeat(i % 130) + "\u20ac\u{1f600}").join(""),
    ];
    const results = strings.map((s) => {
      const decoded = decoder.decode(encoder.encode(s));
      return [decoded.length, h.hashString(decoded), decoded === s];
    });
    const invalid = new Uint8Array(30000).fill(0x61);
    for (let i = 0; i < invalid.length; i += 97) invalid[i] = 0xff;
    for (let i = 50; i < invalid.length; i += 1013) invalid.set([0xf0, 0x9f, 0x98, 0x80], i);
    const decodedInvalid = decoder.decode(invalid);
    const streamed = new TextDecoder();
    let streamedOut = "";
    for (let i = 0; i < invalid.length; i += 777) streamedOut += streamed.decode(invalid.subarray(i, i + 777), { stream: true });
    streamedOut += streamed.decode();
    const utf16 = new Uint8Array(40000);
    for (let i = 0; i < utf16.length; i += 2) utf16[i] = 0x41 + (i % 26);
    const decoded16 = new TextDecoder("utf-16le").decode(utf16);
    return {
      results,
      invalid: [decodedInvalid.length, h.hashString(decodedInvalid), streamedOut === decodedInvalid],
      utf16: [decoded16.length, h.hashString(decoded16)],
    };
  },

  // ---- TextEncoderStream / TextDecoderStream ----

  async textEncoderStream(h) {
    const run = async (chunks) => {
      const { chunks: out, error } = await h.transformAll(new TextEncoderStream(), chunks);
      return { out: out.map(h.bytes), error, uint8: out.every((c) => c instanceof Uint8Array) };
    };
    const stream = new TextEncoderStream();
    return {
      runs: await Promise.all(
        [
          ["\ud83d", "\ude00"], ["a\ud83d", "\ude00b"], ["\ud83d"], ["\ud83d", "x"], ["\ud83d", "", "\ude00"],
          [""], ["\ude00"], ["\ud83d\ud83d", "\ude00"], ["abc", "\u00e9", "\u20ac\u{1f600}"], ["\ud83d", "\ud83d"],
          [123, null, undefined, true, {}],
        ].map(run),
      ),
      encoding: stream.encoding,
      sides: [stream.readable instanceof ReadableStream, stream.writable instanceof WritableStream],
      keys: Object.keys(TextEncoderStream.prototype).sort(),
    };
  },

  async textDecoderStream(h) {
    const run = async (label, options, chunks) => {
      const { chunks: out, error } = await h.transformAll(new TextDecoderStream(label, options), chunks);
      return { out: out.map(h.codeUnits), error };
    };
    const bytes = new TextEncoder().encode("a\u00e9\u20ac\u{1f600}b");
    const splits = [];
    for (let i = 0; i <= bytes.length; i++) splits.push(run("utf-8", {}, [bytes.slice(0, i), bytes.slice(i)]));
    splits.push(run("utf-8", {}, Array.from(bytes, (b) => new Uint8Array([b]))));
    const stream = new TextDecoderStream("utf-16", { fatal: true, ignoreBOM: true });
    return {
      splits: await Promise.all(splits),
      cases: await Promise.all([
        run("utf-8", {}, [new Uint8Array([0xef, 0xbb]), new Uint8Array([0xbf, 0x41])]),
        run("utf-8", { ignoreBOM: true }, [new Uint8Array([0xef, 0xbb]), new Uint8Array([0xbf, 0x41])]),
        run("utf-8", {}, [new Uint8Array([0x41, 0xe2, 0x82])]),
        run("utf-8", { fatal: true }, [new Uint8Array([0x41, 0xe2, 0x82])]),
        run("utf-8", { fatal: true }, [new Uint8Array([0x41]), new Uint8Array([0xff])]),
        run("utf-8", {}, [new Uint8Array([0x41]).buffer, new DataView(new Uint8Array([0x42, 0x43]).buffer)]),
        run("utf-8", {}, [new Uint8Array([0x41]), "str"]),
        run("utf-8", {}, [new Uint8Array([0x41]), null]),
        run("utf-8", {}, [new Uint8Array(0), new Uint8Array([0x41])]),
        run("utf-16le", {}, [new Uint8Array([0x41]), new Uint8Array([0x00, 0x3d, 0xd8]), new Uint8Array([0x00, 0xde])]),
        run("utf-16be", {}, [new Uint8Array([0xd8, 0x3d, 0xde])]),
      ]),
      getters: [stream.encoding, stream.fatal, stream.ignoreBOM],
      sides: [stream.readable instanceof ReadableStream, stream.writable instanceof WritableStream],
      badLabel: h.attempt(() => new TextDecoderStream("utf-7")),
      keys: Object.keys(TextDecoderStream.prototype).sort(),
      piped: await h.readAll(h.streamOf([bytes.slice(0, 2), bytes.slice(2)]).pipeThrough(new TextDecoderStream())),
    };
  },

  // ---- DOMException ----

  async domException(h) {
    const names = [
      "IndexSizeError", "HierarchyRequestError", "WrongDocumentError", "InvalidCharacterError",
      "NoModificationAllowedError", "NotFoundError", "NotSupportedError", "InUseAttributeError",
      "InvalidStateError", "SyntaxError", "InvalidModificationError", "NamespaceError", "InvalidAccessError",
      "TypeMismatchError", "SecurityError", "NetworkError", "AbortError", "URLMismatchError",
      "QuotaExceededError", "TimeoutError", "InvalidNodeTypeError", "DataCloneError", "EncodingError",
      "NotReadableError", "OperationError", "VersionError", "ValidationError", "Error", "Foo", "",
      "constructor", "toString", "__proto__",
    ];
    const constants = Object.keys(DOMException).filter((k) => /_ERR$/.test(k));
    const describeException = (e) => [e.name, e.message, e.code];
    const e = new DOMException("msg", "AbortError");
    class Sub extends DOMException {}
    const sub = new Sub("s", "TimeoutError");
    const getter = (key) => Object.getOwnPropertyDescriptor(DOMException.prototype, key).get;
    return {
      named: names.map((name) => describeException(new DOMException("m", name))),
      defaults: [new DOMException(), new DOMException(undefined, undefined), new DOMException(null, null), new DOMException(123)].map(describeException),
      symbol: [h.attempt(() => new DOMException(Symbol("s"))), h.attempt(() => new DOMException("m", Symbol("s")))],
      constants: constants.map((k) => [k, DOMException[k], DOMException.prototype[k]]),
      descriptors: [Object.getOwnPropertyDescriptor(DOMException, "ABORT_ERR"), Object.getOwnPropertyDescriptor(DOMException.prototype, "TIMEOUT_ERR")],
      accessors: ["name", "message", "code"].map((k) => {
        const d = Object.getOwnPropertyDescriptor(DOMException.prototype, k);
        return [typeof d.get, d.set, d.enumerable, d.configurable];
      }),
      brands: ["name", "message", "code"].map((k) => h.attempt(() => getter(k).call({}))),
      strings: [String(e), Error.prototype.toString.call(e), typeof e.stack, e.stack.split("\n")[0]],
      instances: [e instanceof Error, e instanceof DOMException, Object.getPrototypeOf(DOMException.prototype) === Error.prototype],
      ownKeys: [Object.keys(e), Object.getOwnPropertyNames(e)],
      ctor: [DOMException.length, DOMException.name],
      sub: [describeException(sub), sub instanceof DOMException, sub instanceof Sub, sub.constructor.name],
    };
  },

  // ---- Event ----

  async eventBasics(h) {
    const describeEvent = (e) => ({
      type: e.type, bubbles: e.bubbles, cancelable: e.cancelable, composed: e.composed,
      defaultPrevented: e.defaultPrevented, eventPhase: e.eventPhase, target: e.target,
      currentTarget: e.currentTarget, srcElement: e.srcElement, returnValue: e.returnValue,
      cancelBubble: e.cancelBubble, isTrusted: e.isTrusted, path: e.composedPath().length,
      timeStamp: typeof e.timeStamp,
    });
    const cancelable = new Event("c", { cancelable: true });
    cancelable.preventDefault();
    const notCancelable = new Event("n");
    notCancelable.preventDefault();
    notCancelable.returnValue = false;
    const stopped = new Event("s");
    stopped.stopPropagation();
    stopped.cancelBubble = false;
    const initialised = new Event("i");
    initialised.initEvent("j", true, true);
    return {
      plain: describeEvent(new Event("x")),
      init: describeEvent(new Event("x", { bubbles: 1, cancelable: "yes", composed: {} })),
      nullInit: describeEvent(new Event("x", null)),
      conversions: [123, undefined, null].map((type) => new Event(type).type),
      errors: [h.attempt(() => new Event()), h.attempt(() => new Event(Symbol("s"))), h.attempt(() => new Event("x", 5))],
      cancelable: describeEvent(cancelable),
      notCancelable: describeEvent(notCancelable),
      stopped: describeEvent(stopped),
      initialised: describeEvent(initialised),
      constants: ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"].map((k) => Event[k]),
      tag: Object.prototype.toString.call(new Event("x")),
      lengths: [Event.length, Event.prototype.initEvent.length],
      brand: h.attempt(() => Event.prototype.preventDefault.call({})),
    };
  },

  async eventTargetDispatch(h) {
    const target = new EventTarget();
    const log = [];
    const seen = [];
    const first = function (e) {
      log.push("first");
      seen.push([this === target, e.target === target, e.currentTarget === target, e.eventPhase, e.composedPath().length === 1]);
    };
    target.addEventListener("x", first);
    target.addEventListener("x", first);
    target.addEventListener("x", () => log.push("second"));
    const event = new Event("x", { cancelable: true });
    const results = [target.dispatchEvent(event)];
    const after = [event.target === target, event.currentTarget, event.eventPhase, event.composedPath().length, event.isTrusted];
    target.addEventListener("y", (e) => e.preventDefault());
    results.push(target.dispatchEvent(new Event("y", { cancelable: true })), target.dispatchEvent(new Event("y")));
    const redispatched = new Event("x");
    target.dispatchEvent(redispatched);
    results.push(target.dispatchEvent(redispatched));
    class Sub extends EventTarget {}
    const sub = new Sub();
    sub.addEventListener("z", () => log.push("sub"));
    sub.dispatchEvent(new Event("z"));
    return {
      log, seen, results, after,
      errors: [
        h.attempt(() => target.dispatchEvent({ type: "x" })),
        h.attempt(() => target.dispatchEvent()),
        h.attempt(() => target.addEventListener("x")),
        h.attempt(() => target.addEventListener("x", "not a listener")),
        h.attempt(() => target.addEventListener("x", null)),
        h.attempt(() => target.removeEventListener("x", null)),
        h.attempt(() => EventTarget.prototype.addEventListener.call({}, "x", () => {})),
      ],
      tag: Object.prototype.toString.call(target),
      keys: Object.keys(EventTarget.prototype).sort(),
      lengths: [EventTarget.length, target.addEventListener.length, target.removeEventListener.length, target.dispatchEvent.length],
    };
  },

  async eventTargetListeners(h) {
    const target = new EventTarget();
    const log = [];
    const handler = { handleEvent(e) { log.push(["handleEvent", this === handler, e.type]); } };
    target.addEventListener("a", handler);
    target.dispatchEvent(new Event("a"));
    handler.handleEvent = function () { log.push("replaced handleEvent"); };
    target.dispatchEvent(new Event("a"));

    const capture = () => log.push("capture listener");
    target.addEventListener("b", capture, true);
    target.addEventListener("b", capture, { capture: true });
    target.addEventListener("b", capture);
    target.dispatchEvent(new Event("b"));
    target.removeEventListener("b", capture);
    target.dispatchEvent(new Event("b"));
    target.removeEventListener("b", capture, { capture: true });
    target.dispatchEvent(new Event("b"));

    const later = () => log.push("later (removed)");
    let added = false;
    target.addEventListener("c", () => {
      log.push("remover");
      target.removeEventListener("c", later);
      if (added) return;
      added = true;
      target.addEventListener("c", () => log.push("added during dispatch"));
    });
    target.addEventListener("c", later);
    target.dispatchEvent(new Event("c"));
    target.dispatchEvent(new Event("c"));

    target.addEventListener("d", () => {
      log.push("once");
      target.dispatchEvent(new Event("d"));
    }, { once: true });
    target.dispatchEvent(new Event("d"));
    target.dispatchEvent(new Event("d"));

    target.addEventListener("f", (e) => { log.push("immediate"); e.stopImmediatePropagation(); });
    target.addEventListener("f", () => log.push("after immediate (skipped)"));
    target.dispatchEvent(new Event("f"));

    target.addEventListener("g", () => { log.push("propagation"); }, { once: true, passive: false, capture: false });
    target.addEventListener("g", (e) => e.stopPropagation());
    target.addEventListener("g", () => log.push("after stopPropagation"));
    target.dispatchEvent(new Event("g"));
    return log;
  },

  async eventListenerErrors(h) {
    const target = new EventTarget();
    const log = [];
    target.addEventListener("x", () => { throw new RangeError("boom"); });
    target.addEventListener("x", { handleEvent: 42 });
    target.addEventListener("x", () => log.push("still called"));
    const result = target.dispatchEvent(new Event("x"));
    // Node's message for the non-callable handleEvent is V8's own.
    const uncaught = (await h.uncaught()).map((e) => (e.name === "RangeError" ? e : e.name));
    return { log, result, uncaught };
  },

  async eventListenerSignal(h) {
    const target = new EventTarget();
    const log = [];
    const controller = new AbortController();
    target.addEventListener("x", () => log.push("with signal"), { signal: controller.signal });
    target.addEventListener("x", () => log.push("aborted signal"), { signal: AbortSignal.abort() });
    target.dispatchEvent(new Event("x"));
    controller.abort();
    target.dispatchEvent(new Event("x"));
    const onSelf = new AbortController();
    onSelf.signal.addEventListener("abort", () => log.push("removed before the event"), { signal: onSelf.signal });
    onSelf.signal.addEventListener("abort", () => log.push("abort event"));
    onSelf.abort();
    const twice = new AbortController();
    const listener = () => log.push("once with signal");
    target.addEventListener("y", listener, { once: true, signal: twice.signal });
    target.dispatchEvent(new Event("y"));
    target.addEventListener("y", listener, { signal: twice.signal });
    target.removeEventListener("y", listener);
    target.dispatchEvent(new Event("y"));
    return {
      log,
      errors: [
        h.attempt(() => target.addEventListener("x", () => {}, { signal: {} })),
        h.attempt(() => target.addEventListener("x", () => {}, { signal: null })),
      ],
    };
  },

  // ---- AbortController / AbortSignal ----

  async abortBasics(h) {
    const controller = new AbortController();
    const { signal } = controller;
    const log = [];
    signal.addEventListener("abort", function (e) {
      log.push([e.type, e.isTrusted, e.bubbles, e.cancelable, e.target === signal, this === signal, signal.aborted]);
    });
    const before = [signal.aborted, signal.reason, h.attempt(() => signal.throwIfAborted())];
    controller.abort();
    const reason = signal.reason;
    controller.abort("second");
    return {
      before, log,
      reason: h.describe(reason),
      same: signal.reason === reason,
      thrown: h.attempt(() => signal.throwIfAborted()),
      thrownIdentity: (() => { try { signal.throwIfAborted(); } catch (e) { return e === reason; } })(),
      tags: [Object.prototype.toString.call(controller), Object.prototype.toString.call(signal)],
      isEventTarget: signal instanceof EventTarget,
      illegal: [h.attempt(() => new AbortSignal()), h.attempt(() => AbortSignal())],
      brands: [
        h.attempt(() => Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted").get.call({})),
        h.attempt(() => AbortController.prototype.abort.call({})),
      ],
      lengths: [AbortController.length, controller.abort.length, AbortSignal.abort.length, AbortSignal.timeout.length, AbortSignal.any.length],
    };
  },

  async abortReasons(h) {
    const object = { a: 1 };
    const error = new Error("x");
    return ["str", 0, null, false, object, error, undefined].map((value) => {
      const controller = new AbortController();
      controller.abort(value);
      const fromStatic = AbortSignal.abort(value);
      const reason = controller.signal.reason;
      return [
        value === undefined ? h.describe(reason) : reason === value,
        value === undefined ? h.describe(fromStatic.reason) : fromStatic.reason === value,
        controller.signal.aborted, fromStatic.aborted,
      ];
    });
  },

  async abortOnabort(h) {
    const log = [];
    const controller = new AbortController();
    const { signal } = controller;
    const initial = signal.onabort;
    signal.addEventListener("abort", () => log.push("A"));
    signal.onabort = () => log.push("H1");
    signal.addEventListener("abort", () => log.push("B"));
    signal.onabort = function (e) { log.push(["H2", this === signal, e.type]); };
    controller.abort();
    const other = new AbortController();
    other.signal.onabort = () => log.push("cleared (not called)");
    other.signal.onabort = null;
    other.abort();
    const values = [null, () => {}, {}].map((value) => {
      const s = new AbortController().signal;
      s.onabort = value;
      return s.onabort === value;
    });
    return { initial, log, values, keyed: "onabort" in AbortSignal.prototype };
  },

  async abortTimeout(h) {
    const signal = AbortSignal.timeout(10);
    const zero = AbortSignal.timeout(0);
    const log = [];
    signal.addEventListener("abort", (e) => log.push([e.type, e.isTrusted]));
    const before = [signal.aborted, zero.aborted];
    await h.sleep(60);
    return {
      before, log,
      after: [signal.aborted, zero.aborted],
      reason: h.describe(signal.reason),
      zeroReason: h.describe(zero.reason),
      errors: [h.attempt(() => AbortSignal.timeout())],
    };
  },

  async abortAny(h) {
    const log = [];
    const a = new AbortController();
    const b = new AbortController();
    const any = AbortSignal.any([a.signal, b.signal]);
    const nested = AbortSignal.any([any]);
    any.addEventListener("abort", () => log.push("any"));
    nested.addEventListener("abort", () => log.push("nested"));
    b.signal.addEventListener("abort", () => log.push("b"));
    const before = [any.aborted, nested.aborted];
    b.abort("from b");
    a.abort("from a");
    const preAborted = AbortSignal.abort("early");
    const fromAborted = AbortSignal.any([new AbortController().signal, preAborted, AbortSignal.abort("later")]);
    const empty = AbortSignal.any([]);
    return {
      log, before,
      after: [any.aborted, any.reason, nested.aborted, nested.reason],
      fromAborted: [fromAborted.aborted, fromAborted.reason],
      empty: empty.aborted,
      errors: [
        h.attempt(() => AbortSignal.any([{}])),
        h.attempt(() => AbortSignal.any("str")),
        h.attempt(() => AbortSignal.any(null)),
        h.attempt(() => AbortSignal.any()),
      ],
    };
  },

  // ---- streams with AbortSignal (the ponyfill inside the vm) ----

  async pipeToAbort(h) {
    const run = async ({ abortWith, preventAbort = false, preventCancel = false, preAbort = false }) => {
      const log = [];
      const reason = abortWith === "object" ? { why: "stop" } : abortWith;
      const readable = new ReadableStream({
        start(controller) {
          for (const chunk of [1, 2, 3]) controller.enqueue(chunk);
        },
        cancel(r) {
          log.push(["cancel", r === reason ? "same reason" : h.describe(r)]);
        },
      });
      let written = 0;
      let allWritten;
      const wroteAll = new Promise((resolve) => { allWritten = resolve; });
      const writable = new WritableStream({
        write(chunk) {
          log.push(["write", chunk]);
          if (++written === 3) allWritten();
        },
        abort(r) {
          log.push(["abort", r === reason ? "same reason" : h.describe(r)]);
        },
      });
      const controller = new AbortController();
      if (preAbort) controller.abort(reason);
      const piped = readable.pipeTo(writable, { signal: controller.signal, preventAbort, preventCancel });
      if (!preAbort) {
        await wroteAll;
        controller.abort(reason);
      }
      const outcome = await piped.then(
        () => "resolved",
        (e) => (e === reason ? "rejected with the reason" : h.describe(e)),
      );
      return { log, outcome, locked: [readable.locked, writable.locked] };
    };
    return Promise.all([
      run({ abortWith: "object" }),
      run({ abortWith: "string" }),
      run({ abortWith: undefined }),
      run({ abortWith: "object", preventAbort: true }),
      run({ abortWith: "object", preventCancel: true }),
      run({ abortWith: "object", preventAbort: true, preventCancel: true }),
      run({ abortWith: "object", preAbort: true }),
      run({ abortWith: undefined, preAbort: true }),
    ]);
  },

  async pipeToTimeoutAndChecks(h) {
    const never = new ReadableStream({ pull() {} });
    const timedOut = await never
      .pipeTo(new WritableStream(), { signal: AbortSignal.timeout(20) })
      .then(() => "resolved", h.describe);
    const completed = await h
      .streamOf(["a", "b"])
      .pipeTo(new WritableStream(), { signal: new AbortController().signal })
      .then(() => "resolved", h.describe);
    const badSignal = await h
      .streamOf([])
      .pipeTo(new WritableStream(), { signal: {} })
      .then(() => "resolved", h.describe);
    const controller = new AbortController();
    const through = h.streamOf(["x"]).pipeThrough(new TransformStream(), { signal: controller.signal });
    const read = await h.readAll(through);
    const pending = new TransformStream();
    const aborter = new AbortController();
    const reader = new ReadableStream({ pull() {} }).pipeThrough(pending, { signal: aborter.signal }).getReader();
    aborter.abort("halt");
    const readAfterAbort = await reader.read().then(() => "read", (e) => e);
    const noDestination = await new ReadableStream().pipeTo().then(() => "resolved", h.describe);
    const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
    const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(new ReadableStream().values()));
    return {
      timedOut, completed, badSignal, read, readAfterAbort, noDestination,
      iteratorInheritance: iteratorPrototype === asyncIteratorPrototype,
    };
  },

  async writableControllerSignal(h) {
    let controller;
    const log = [];
    const writable = new WritableStream({
      start(c) {
        controller = c;
        c.signal.addEventListener("abort", (e) => log.push(["abort event", e.isTrusted]));
      },
    });
    const before = [controller.signal.aborted, controller.signal instanceof AbortSignal];
    await writable.getWriter().abort("why");
    return { before, log, after: [controller.signal.aborted, controller.signal.reason] };
  },
};

// Places where Node departs from the standards, and properties of the bundle
// itself: run in the vm context only, each returning [actual, expected].
const SPEC_CASES = {
  // DOM: at the target, capture listeners run before the others (Node runs
  // all in registration order).
  async captureListenersFirst() {
    const target = new EventTarget();
    const log = [];
    target.addEventListener("x", () => log.push("bubble1"));
    target.addEventListener("x", () => log.push("capture"), true);
    target.addEventListener("x", (e) => { log.push("bubble2"); e.stopPropagation(); });
    target.addEventListener("x", () => log.push("bubble3"));
    target.dispatchEvent(new Event("x"));
    const stopped = [];
    target.addEventListener("y", (e) => { stopped.push("capture"); e.stopPropagation(); }, true);
    target.addEventListener("y", () => stopped.push("bubble"));
    target.dispatchEvent(new Event("y"));
    return [[log, stopped], [["capture", "bubble1", "bubble2", "bubble3"], ["capture"]]];
  },

  // DOM "signal abort": dependents are aborted before the source's abort
  // event fires (Node 20 fires it first).
  async dependentsAbortFirst() {
    const controller = new AbortController();
    const dependent = AbortSignal.any([controller.signal]);
    let seen;
    controller.signal.addEventListener("abort", () => { seen = [dependent.aborted, dependent.reason]; });
    controller.abort("r");
    return [seen, [true, "r"]];
  },

  // DOM: dispatching an event being dispatched is an InvalidStateError
  // DOMException (Node throws a plain Error).
  async recursiveDispatch() {
    const target = new EventTarget();
    const event = new Event("x");
    let error;
    target.addEventListener("x", () => {
      try {
        target.dispatchEvent(event);
      } catch (e) {
        error = [e instanceof DOMException, e.name, e.code];
      }
    });
    target.dispatchEvent(event);
    return [error, [true, "InvalidStateError", 11]];
  },

  // HTML: an event handler returning false cancels the event (Node ignores
  // the return value).
  async handlerReturningFalseCancels() {
    const signal = new AbortController().signal;
    signal.onabort = () => false;
    return [signal.dispatchEvent(new Event("abort", { cancelable: true })), false];
  },

  // Encoding: TextEncoderStream converts chunks to DOMString, which throws
  // for symbols (Node's String() accepts them).
  async encoderStreamSymbolChunk(h) {
    const { chunks, error } = await h.transformAll(new TextEncoderStream(), ["a", Symbol("s")]);
    return [[chunks.length, error], [1, { type: "TypeError", name: "TypeError" }]];
  },

  // WebIDL [EnforceRange]: out-of-range timeouts are TypeErrors (Node throws
  // RangeError for negative values).
  async timeoutEnforceRange(h) {
    return [[-1, 2 ** 53, NaN, 1n].map((ms) => h.attempt(() => AbortSignal.timeout(ms)).error?.type), Array(4).fill("TypeError")];
  },

  // Delays beyond a 32-bit timer are split rather than overflowing (Node's
  // setTimeout, used by the vm context, fires those after 1 ms).
  async longTimeoutDoesNotFireEarly(h) {
    const signal = AbortSignal.timeout(2 ** 33);
    await h.sleep(20);
    return [signal.aborted, false];
  },

  // WebIDL: isTrusted is [LegacyUnforgeable], an own property of each event.
  async isTrustedUnforgeable() {
    const descriptor = Object.getOwnPropertyDescriptor(new Event("x"), "isTrusted");
    return [[typeof descriptor.get, descriptor.configurable, descriptor.enumerable], ["function", false, true]];
  },

  // DOM: a dispatch calls the listeners registered when it began; Node also
  // calls some added during the dispatch.
  async listenersAddedDuringDispatch() {
    const target = new EventTarget();
    const log = [];
    target.addEventListener("x", () => {
      log.push("adder");
      target.addEventListener("x", () => log.push("added"));
    });
    target.dispatchEvent(new Event("x"));
    target.dispatchEvent(new Event("x"));
    return [log, ["adder", "adder", "added"]];
  },

  // DOM: preventDefault() in a passive listener does nothing (Node cancels).
  async passiveListeners() {
    const target = new EventTarget();
    const seen = [];
    target.addEventListener("x", (e) => {
      e.preventDefault();
      seen.push(e.defaultPrevented);
    }, { passive: true });
    target.addEventListener("x", (e) => {
      e.preventDefault();
      seen.push(e.defaultPrevented);
    });
    const result = target.dispatchEvent(new Event("x", { cancelable: true }));
    return [[seen, result], [[false, true], false]];
  },

  // DOM: the end of a dispatch unsets the stop propagation flags, so
  // cancelBubble reads false again (Node keeps it true).
  async propagationFlagsReset() {
    const target = new EventTarget();
    target.addEventListener("x", (e) => e.stopImmediatePropagation());
    const event = new Event("x");
    target.dispatchEvent(event);
    const stopped = new Event("y");
    stopped.stopPropagation();
    target.dispatchEvent(stopped);
    return [[event.cancelBubble, stopped.cancelBubble], [false, false]];
  },

  // WebIDL: constants are on the prototype too (Node has them only on Event).
  async eventConstantsOnPrototype() {
    return [
      ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"].map((k) => new Event("x")[k]),
      [0, 1, 2, 3],
    ];
  },

  // WebIDL: every interface prototype has @@toStringTag (Node's
  // TextEncoderStream and TextDecoderStream lack it).
  async toStringTags() {
    return [
      [new TextEncoderStream(), new TextDecoderStream()].map((o) => Object.prototype.toString.call(o)),
      ["[object TextEncoderStream]", "[object TextDecoderStream]"],
    ];
  },

  // WebIDL: a TextDecoderStream chunk must be a buffer source; undefined is
  // a TypeError (Node decodes it as no bytes).
  async decoderStreamUndefinedChunk(h) {
    const { error } = await h.transformAll(new TextDecoderStream(), [new Uint8Array([0x41]), undefined]);
    return [error, { type: "TypeError", name: "TypeError" }];
  },

  // DOM: setting returnValue to false cancels a cancelable event (Node's
  // setter does nothing).
  async returnValueCancels() {
    const event = new Event("c", { cancelable: true });
    event.returnValue = false;
    return [[event.defaultPrevented, event.returnValue], [true, false]];
  },

  // WebIDL boolean conversion of the capture option (Node matches only true).
  async captureOptionIsConverted() {
    const target = new EventTarget();
    let calls = 0;
    const listener = () => calls++;
    target.addEventListener("x", listener, { capture: "yes" });
    target.removeEventListener("x", listener, { capture: 1 });
    target.dispatchEvent(new Event("x"));
    return [calls, 0];
  },

  // HTML: event handler attributes are [LegacyTreatNonObjectAsNull] (Node
  // keeps non-objects).
  async eventHandlerNonObjectIsNull() {
    return [
      [5, "str", undefined].map((value) => {
        const signal = new AbortController().signal;
        signal.onabort = value;
        return signal.onabort;
      }),
      [null, null, null],
    ];
  },

  // WebIDL: AbortSignal.any takes any iterable (Node requires an Array).
  async abortAnyIterable() {
    const signal = AbortSignal.any(new Set([AbortSignal.abort("set")]));
    return [signal.reason, "set"];
  },

  // The bundle hands the ponyfill our DOMException: its one use, the reason
  // of a pipe aborted by a signal without one, is ours (Node rejects with
  // undefined). Only a look-alike signal can lack a reason.
  async ponyfillUsesOurDOMException(h) {
    const signal = { aborted: true, addEventListener() {}, removeEventListener() {} };
    const reason = await new ReadableStream().pipeTo(new WritableStream(), { signal }).catch((e) => e);
    return [[reason instanceof DOMException, reason.name], [true, "AbortError"]];
  },

  // WebIDL tags the prototype with the interface name, as browsers and Node do.
  async domExceptionToStringTag() {
    return [Object.prototype.toString.call(new DOMException("m", "AbortError")), "[object DOMException]"];
  },

  async globalsInstalled() {
    return [
      INSTALLED_NAMES_FROM_HOST.map((name) => {
        const d = Object.getOwnPropertyDescriptor(globalThis, name);
        return [name, typeof d?.value, d?.value?.name, d?.writable, d?.enumerable, d?.configurable];
      }),
      INSTALLED_NAMES_FROM_HOST.map((name) => [name, "function", name, true, false, true]),
    ];
  },
};

// ---- harness ----

function canonical(value) {
  return JSON.stringify(value, (key, v) => {
    if (v === undefined) return "<undefined>";
    if (typeof v === "number" && !Number.isFinite(v)) return `<${v}>`;
    if (typeof v === "bigint") return `<${v}n>`;
    return v;
  });
}

// The first differing path of two canonical JSON values, for the report.
function firstDifference(a, b, labels = ["node", "ours"], path = "") {
  if (canonical(a) === canonical(b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object") {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const diff = firstDifference(a[key], b[key], labels, `${path}/${key}`);
      if (diff) return diff;
    }
  }
  const show = (v) => {
    const s = canonical(v);
    return s.length > 300 ? `${s.slice(0, 300)}...` : s;
  };
  return `at ${path || "/"}: ${labels[0]} ${show(a)}, ${labels[1]} ${show(b)}`;
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out`)), CASE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Case sources are recompiled per context; SAMPLES and
// INSTALLED_NAMES_FROM_HOST are the only free variables they use.
function compileIn(context, source) {
  const prelude = `const SAMPLES = (${utf8Samples})(); const INSTALLED_NAMES_FROM_HOST = ${JSON.stringify(INSTALLED_NAMES)};`;
  const code = `(() => { ${prelude} return (${source}); })()`;
  return context === null ? vm.runInThisContext(code) : vm.runInContext(code, context);
}

// Case sources are method shorthands ("async name(h) {...}"), which compile
// as function expressions once prefixed with "function".
function functionSource(fn) {
  return fn.toString().replace(/^async\s+/, "async function ");
}

async function main() {
  const scriptPath = process.argv[2];
  if (scriptPath === undefined) {
    console.error("usage: node web_globals_against_node.js <script.js>");
    process.exit(2);
  }
  process.on("uncaughtException", (error) => {
    uncaught.push({ name: error?.name, message: error?.message });
  });
  // Node warns about some of the calls the cases make on purpose.
  process.removeAllListeners("warning");

  const context = vm.createContext({ setTimeout, clearTimeout, queueMicrotask });
  const contextGlobal = vm.runInContext("globalThis", context);
  const namesBefore = new Set(Object.getOwnPropertyNames(contextGlobal));
  const install = vm.runInContext(fs.readFileSync(scriptPath, "utf8"), context, { filename: "jscell:web" });
  const bridge = install(contextGlobal);

  let failures = 0;
  let passed = 0;
  const fail = (name, message) => {
    failures++;
    console.log(`FAIL ${name}: ${message}`);
  };
  const pass = (name) => {
    passed++;
    console.log(`ok   ${name}`);
  };

  const added = Object.getOwnPropertyNames(contextGlobal).filter((n) => !namesBefore.has(n));
  const leaked = firstDifference([...INSTALLED_NAMES].sort(), added.sort(), ["expected", "added"]);
  if (leaked) fail("bundle adds exactly the web globals", leaked);
  else pass("bundle adds exactly the web globals");
  if (typeof bridge !== "object" || bridge === null) fail("bundle returns the bridge", String(bridge));
  else pass("bundle returns the bridge");

  const host = { takeUncaught };
  const nativeHelpers = compileIn(null, makeHelpers.toString())(host);
  const ourHelpers = compileIn(context, makeHelpers.toString())(host);

  for (const [name, fn] of Object.entries(CASES)) {
    try {
      const source = functionSource(fn);
      const expected = await withTimeout(compileIn(null, source)(nativeHelpers), `${name} (node)`);
      takeUncaught();
      const actual = await withTimeout(compileIn(context, source)(ourHelpers), `${name} (ours)`);
      takeUncaught();
      const diff = firstDifference(JSON.parse(canonical(expected)), JSON.parse(canonical(actual)));
      if (diff) fail(name, diff);
      else pass(name);
    } catch (error) {
      fail(name, error.stack);
    }
  }

  for (const [name, fn] of Object.entries(SPEC_CASES)) {
    try {
      const [actual, expected] = await withTimeout(compileIn(context, functionSource(fn))(ourHelpers), name);
      const diff = firstDifference(JSON.parse(canonical(expected)), JSON.parse(canonical(actual)), ["expected", "actual"]);
      if (diff) fail(`spec: ${name}`, diff);
      else pass(`spec: ${name}`);
    } catch (error) {
      fail(`spec: ${name}`, error.stack);
    }
  }

  const leftover = takeUncaught();
  if (leftover.length > 0) fail("no stray uncaught exceptions", JSON.stringify(leftover));

  console.log(`\n${passed} passed, ${failures} failed`);
  // Exit explicitly: the long-timeout case leaves a timer behind.
  process.exit(failures === 0 ? 0 : 1);
}

// Requiring this file gives the cases, to replay them in other engines.
module.exports = { CASES, SPEC_CASES, INSTALLED_NAMES, makeHelpers, utf8Samples, functionSource, canonical, firstDifference };

if (require.main === module) main();
