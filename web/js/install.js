// Installs the web globals, as WebIDL installs interface objects: writable,
// configurable and not enumerable. GLOBAL_NAMES is global_names.txt, written in
// by the build.

{
  const interfaces = {
    ...streams,
    DOMException,
    Event,
    EventTarget,
    AbortController,
    AbortSignal,
    TextEncoder,
    TextDecoder,
    TextEncoderStream,
    TextDecoderStream,
  };
  for (const name of GLOBAL_NAMES) {
    const value = interfaces[name];
    // Catches a ponyfill that no longer exports one of the names.
    if (typeof value !== "function") throw new TypeError(`web globals: ${name} is missing`);
    Object.defineProperty(global, name, { value, writable: true, enumerable: false, configurable: true });
  }
}

return bridge;
