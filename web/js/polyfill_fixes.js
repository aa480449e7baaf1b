// Where web-streams-polyfill 4.3.0 departs from the WHATWG streams and WebIDL specs, mended
// before anything else holds its classes. Each fix names the rule it restores.
{
  // WebIDL: a missing required argument is a TypeError. The polyfill rejects
  // `pipeTo(undefined)` with a bare string.
  const prototype = streams.ReadableStream.prototype;
  const pipeTo = prototype.pipeTo;
  const mended = {
    pipeTo(destination, options = undefined) {
      const piped = pipeTo.call(this, destination, options);
      if (destination !== undefined) return piped;
      return piped.catch((reason) => {
        throw typeof reason === "string" ? new TypeError(reason) : reason;
      });
    },
  }.pipeTo;
  Object.defineProperty(prototype, "pipeTo", { ...Object.getOwnPropertyDescriptor(prototype, "pipeTo"), value: mended });

  // WebIDL: an asynchronous iterator's prototype inherits from %AsyncIteratorPrototype%. The
  // polyfill's inherits from Object.prototype.
  const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
  const iteratorPrototype = Object.getPrototypeOf(new streams.ReadableStream().values());
  Object.setPrototypeOf(iteratorPrototype, asyncIteratorPrototype);
}
