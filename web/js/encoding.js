// TextEncoder, TextDecoder, TextEncoderStream and TextDecoderStream (WHATWG
// Encoding Standard), for UTF-8 and UTF-16LE/BE only.

// Strings are built from at most this many code units at a time:
// String.fromCharCode.apply has an argument count limit.
const STRING_CHUNK = 8192;

// ASCII runs at least this long become strings straight from the input bytes
// instead of being copied code unit by code unit.
const ASCII_RUN = 64;

// Scratch buffer of decoded code units. Decoding never runs user code, so it
// is never re-entered. The decoding loops flush it once it holds
// STRING_CHUNK units; one iteration, or the final flush, adds fewer than
// ASCII_RUN more.
const decodedUnits = new Uint16Array(STRING_CHUNK + ASCII_RUN);

const REPLACEMENT_BYTES = [0xef, 0xbf, 0xbd];

const EMPTY_BYTES = new Uint8Array(0);

// Regular expressions run natively, far faster than a JavaScript loop over
// the string in QuickJS.
const NON_ASCII = /[^\x00-\x7f]/;

const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
const sharedArrayBufferByteLength =
  typeof SharedArrayBuffer === "function"
    ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength").get
    : undefined;

// Brand checks that, unlike instanceof, also accept other realms' objects.
function hasBrand(getter, value) {
  if (getter === undefined) return false;
  try {
    getter.call(value);
    return true;
  } catch {
    return false;
  }
}

// AllowSharedBufferSource conversion, to a plain Uint8Array over the same
// bytes: never the caller's view, whose subclass could run code on subarray().
function toByteView(input, what) {
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (hasBrand(arrayBufferByteLength, input) || hasBrand(sharedArrayBufferByteLength, input)) {
    return new Uint8Array(input);
  }
  throw new TypeError(`${what} is not an ArrayBuffer, SharedArrayBuffer or ArrayBufferView.`);
}

function pushBytesAsString(parts, bytes, start, end) {
  for (let i = start; i < end; i += STRING_CHUNK) {
    parts.push(String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + STRING_CHUNK, end))));
  }
}

function pushDecodedUnits(parts, count) {
  if (count > 0) parts.push(String.fromCharCode.apply(null, decodedUnits.subarray(0, count)));
}

function decodingError(encoding) {
  return new TypeError(`The encoded data was not valid for encoding ${encoding}`);
}

// Writes the UTF-8 encoding of `string` into `dest`, lone surrogates becoming
// U+FFFD, and stops before the first code point that does not fit entirely
// ("encodeInto"). Returns the counts of code units read and bytes written.
function encodeUtf8Into(string, dest) {
  const length = string.length;
  const capacity = dest.length;
  let read = 0;
  let written = 0;
  while (read < length) {
    let c = string.charCodeAt(read);
    if (c < 0x80) {
      if (written === capacity) break;
      dest[written++] = c;
      read++;
      continue;
    }
    let units = 1;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = read + 1 < length ? string.charCodeAt(read + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        units = 2;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      if (capacity - written < 2) break;
      dest[written++] = 0xc0 | (c >> 6);
    } else if (c < 0x10000) {
      if (capacity - written < 3) break;
      dest[written++] = 0xe0 | (c >> 12);
      dest[written++] = 0x80 | ((c >> 6) & 0x3f);
    } else {
      if (capacity - written < 4) break;
      dest[written++] = 0xf0 | (c >> 18);
      dest[written++] = 0x80 | ((c >> 12) & 0x3f);
      dest[written++] = 0x80 | ((c >> 6) & 0x3f);
    }
    dest[written++] = 0x80 | (c & 0x3f);
    read += units;
  }
  return { read, written };
}

// UTF-8 encoding of `string` (USVString semantics: lone surrogates become
// U+FFFD). Beyond ASCII, the exact size is counted first so that the
// result's buffer is not oversized.
function encodeUtf8(string) {
  const length = string.length;
  if (!NON_ASCII.test(string)) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = string.charCodeAt(i);
    return bytes;
  }
  let size = length;
  for (let i = 0; i < length; i++) {
    const c = string.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      size += 1;
    } else if (c <= 0xdbff && c >= 0xd800 && i + 1 < length && (string.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 2; // two code units, four bytes
      i++;
    } else {
      size += 2; // three bytes, U+FFFD included
    }
  }
  const bytes = new Uint8Array(size);
  encodeUtf8Into(string, bytes);
  return bytes;
}

// The UTF-8 decoder of the Encoding Standard, its state kept across calls.
// Every error yields one U+FFFD (or throws in fatal mode), which is the
// "maximal subpart" replacement that browsers and Node produce.
class Utf8Decoder {
  constructor() {
    this.encoding = "utf-8";
    this.reset();
  }

  reset() {
    this.codePoint = 0;
    this.bytesSeen = 0;
    this.bytesNeeded = 0;
    this.lowerBoundary = 0x80;
    this.upperBoundary = 0xbf;
  }

  // In fatal mode an error discards the decoder's state and the rest of the
  // input, as Node does.
  fatalError() {
    this.reset();
    return decodingError(this.encoding);
  }

  // Decodes `bytes`, then the end of the queue if `flush`.
  decode(bytes, flush, fatal) {
    const units = decodedUnits;
    const parts = [];
    let count = 0;
    let { codePoint, bytesSeen, bytesNeeded, lowerBoundary, upperBoundary } = this;
    const length = bytes.length;
    let i = 0;
    while (i < length) {
      if (count >= STRING_CHUNK) {
        pushDecodedUnits(parts, count);
        count = 0;
      }
      const byte = bytes[i];
      if (bytesNeeded === 0) {
        if (byte < 0x80) {
          let end = i + 1;
          while (end < length && bytes[end] < 0x80) end++;
          if (end - i >= ASCII_RUN) {
            pushDecodedUnits(parts, count);
            count = 0;
            pushBytesAsString(parts, bytes, i, end);
            i = end;
          } else {
            while (i < end) units[count++] = bytes[i++];
          }
          continue;
        }
        i++;
        if (byte >= 0xc2 && byte <= 0xdf) {
          bytesNeeded = 1;
          codePoint = byte & 0x1f;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) lowerBoundary = 0xa0;
          else if (byte === 0xed) upperBoundary = 0x9f;
          bytesNeeded = 2;
          codePoint = byte & 0xf;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) lowerBoundary = 0x90;
          else if (byte === 0xf4) upperBoundary = 0x8f;
          bytesNeeded = 3;
          codePoint = byte & 0x7;
        } else {
          if (fatal) throw this.fatalError();
          units[count++] = 0xfffd;
        }
        continue;
      }
      if (byte < lowerBoundary || byte > upperBoundary) {
        // The sequence so far is one error; the byte is processed again.
        codePoint = bytesNeeded = bytesSeen = 0;
        lowerBoundary = 0x80;
        upperBoundary = 0xbf;
        if (fatal) throw this.fatalError();
        units[count++] = 0xfffd;
        continue;
      }
      i++;
      lowerBoundary = 0x80;
      upperBoundary = 0xbf;
      codePoint = (codePoint << 6) | (byte & 0x3f);
      if (++bytesSeen !== bytesNeeded) continue;
      if (codePoint < 0x10000) {
        units[count++] = codePoint;
      } else {
        units[count++] = 0xd800 + ((codePoint - 0x10000) >> 10);
        units[count++] = 0xdc00 + (codePoint & 0x3ff);
      }
      codePoint = bytesNeeded = bytesSeen = 0;
    }
    if (flush && bytesNeeded !== 0) {
      codePoint = bytesNeeded = bytesSeen = 0;
      lowerBoundary = 0x80;
      upperBoundary = 0xbf;
      if (fatal) throw this.fatalError();
      units[count++] = 0xfffd;
    }
    this.codePoint = codePoint;
    this.bytesSeen = bytesSeen;
    this.bytesNeeded = bytesNeeded;
    this.lowerBoundary = lowerBoundary;
    this.upperBoundary = upperBoundary;
    pushDecodedUnits(parts, count);
    return parts.length === 1 ? parts[0] : parts.join("");
  }
}

// The shared UTF-16LE/UTF-16BE decoder of the Encoding Standard. Where the
// standard restores the two bytes of a code unit that follows an unpaired
// lead surrogate, this decoder reprocesses the code unit itself: the same.
class Utf16Decoder {
  constructor(bigEndian) {
    this.bigEndian = bigEndian;
    this.encoding = bigEndian ? "utf-16be" : "utf-16le";
    this.reset();
  }

  reset() {
    this.leadByte = -1;
    this.leadSurrogate = -1;
  }

  fatalError() {
    this.reset();
    return decodingError(this.encoding);
  }

  decode(bytes, flush, fatal) {
    const units = decodedUnits;
    const parts = [];
    const { bigEndian } = this;
    let count = 0;
    let { leadByte, leadSurrogate } = this;
    for (let i = 0; i < bytes.length; i++) {
      if (count >= STRING_CHUNK) {
        pushDecodedUnits(parts, count);
        count = 0;
      }
      if (leadByte === -1) {
        leadByte = bytes[i];
        continue;
      }
      const unit = bigEndian ? (leadByte << 8) | bytes[i] : (bytes[i] << 8) | leadByte;
      leadByte = -1;
      if (leadSurrogate !== -1) {
        const lead = leadSurrogate;
        leadSurrogate = -1;
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          units[count++] = lead;
          units[count++] = unit;
          continue;
        }
        if (fatal) throw this.fatalError();
        units[count++] = 0xfffd;
      }
      if (unit >= 0xd800 && unit <= 0xdbff) {
        leadSurrogate = unit;
      } else if (unit >= 0xdc00 && unit <= 0xdfff) {
        if (fatal) throw this.fatalError();
        units[count++] = 0xfffd;
      } else {
        units[count++] = unit;
      }
    }
    if (flush && (leadByte !== -1 || leadSurrogate !== -1)) {
      leadByte = leadSurrogate = -1;
      if (fatal) throw this.fatalError();
      units[count++] = 0xfffd;
    }
    this.leadByte = leadByte;
    this.leadSurrogate = leadSurrogate;
    pushDecodedUnits(parts, count);
    return parts.length === 1 ? parts[0] : parts.join("");
  }
}

// Encoding labels (Encoding Standard section 4.2) of the supported encodings.
const ENCODING_LABELS = new Map([
  ...["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"].map(
    (label) => [label, "utf-8"],
  ),
  ...["csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"].map(
    (label) => [label, "utf-16le"],
  ),
  ...["unicodefffe", "utf-16be"].map((label) => [label, "utf-16be"]),
]);

function createDecoder(encoding) {
  return encoding === "utf-8" ? new Utf8Decoder() : new Utf16Decoder(encoding === "utf-16be");
}

// TextDecoderCommon plus the state of the decode() steps, shared by
// TextDecoder and TextDecoderStream.
class DecoderCore {
  constructor(label, options) {
    label = toDOMString(label);
    const dict = toDictionary(options, "The TextDecoder options");
    this.fatal = Boolean(dict.fatal);
    this.ignoreBOM = Boolean(dict.ignoreBOM);
    // "Get an encoding": strip ASCII whitespace and match ASCII case-insensitively.
    const key = label.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").replace(/[A-Z]+/g, (s) => s.toLowerCase());
    const encoding = ENCODING_LABELS.get(key);
    if (encoding === undefined) throw new RangeError(`The "${label}" encoding is not supported`);
    this.encoding = encoding;
    this.decoder = createDecoder(encoding);
    this.doNotFlush = false;
    this.bomSeen = false;
  }

  // `bytes` is a Uint8Array, or null for no input.
  decode(bytes, stream) {
    if (!this.doNotFlush) {
      this.decoder.reset();
      this.bomSeen = false;
    }
    this.doNotFlush = stream;
    let output = this.decoder.decode(bytes ?? EMPTY_BYTES, !stream, this.fatal);
    // "Serialize I/O queue": a BOM is dropped only as the stream's first code point.
    if (!this.ignoreBOM && !this.bomSeen && output.length > 0) {
      this.bomSeen = true;
      if (output.charCodeAt(0) === 0xfeff) output = output.slice(1);
    }
    return output;
  }
}

class TextEncoder {
  get encoding() {
    return "utf-8";
  }

  encode(input = "") {
    return encodeUtf8(toDOMString(input));
  }

  encodeInto(source, destination) {
    requireArguments(arguments.length, 2, "TextEncoder.encodeInto");
    source = toDOMString(source);
    if (typedArrayTag.call(destination) !== "Uint8Array") {
      throw new TypeError("TextEncoder.encodeInto: destination is not a Uint8Array.");
    }
    return encodeUtf8Into(source, destination);
  }
}

finishInterface(TextEncoder);

class TextDecoder {
  #core;

  constructor(label = "utf-8", options = {}) {
    this.#core = new DecoderCore(label, options);
  }

  get encoding() {
    return this.#core.encoding;
  }

  get fatal() {
    return this.#core.fatal;
  }

  get ignoreBOM() {
    return this.#core.ignoreBOM;
  }

  decode(input = undefined, options = {}) {
    const core = this.#core;
    const bytes = input === undefined ? null : toByteView(input, "TextDecoder.decode: input");
    const stream = Boolean(toDictionary(options, "The TextDecoder.decode options").stream);
    return core.decode(bytes, stream);
  }
}

finishInterface(TextDecoder);

class TextEncoderStream {
  #transform;

  constructor() {
    // A lead surrogate ending a chunk waits for the next chunk's first code
    // unit; left over at the end, it becomes U+FFFD.
    let pendingLead = "";
    this.#transform = new streams.TransformStream({
      transform(chunk, controller) {
        let string = pendingLead + toDOMString(chunk);
        pendingLead = "";
        const last = string.charCodeAt(string.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pendingLead = string.slice(-1);
          string = string.slice(0, -1);
        }
        if (string.length > 0) controller.enqueue(encodeUtf8(string));
      },
      flush(controller) {
        if (pendingLead !== "") controller.enqueue(new Uint8Array(REPLACEMENT_BYTES));
      },
    });
  }

  get encoding() {
    void this.#transform; // brand check
    return "utf-8";
  }

  get readable() {
    return this.#transform.readable;
  }

  get writable() {
    return this.#transform.writable;
  }
}

finishInterface(TextEncoderStream);

class TextDecoderStream {
  #core;
  #transform;

  constructor(label = "utf-8", options = {}) {
    const core = new DecoderCore(label, options);
    this.#core = core;
    this.#transform = new streams.TransformStream({
      transform(chunk, controller) {
        const output = core.decode(toByteView(chunk, "TextDecoderStream chunk"), true);
        if (output.length > 0) controller.enqueue(output);
      },
      flush(controller) {
        const output = core.decode(null, false);
        if (output.length > 0) controller.enqueue(output);
      },
    });
  }

  get encoding() {
    return this.#core.encoding;
  }

  get fatal() {
    return this.#core.fatal;
  }

  get ignoreBOM() {
    return this.#core.ignoreBOM;
  }

  get readable() {
    return this.#transform.readable;
  }

  get writable() {
    return this.#transform.writable;
  }
}

finishInterface(TextDecoderStream);
