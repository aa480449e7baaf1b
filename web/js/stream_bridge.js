// The bridge between host streams and `ReadableStream`s (web/src/lib.rs documents its contract).
// It captures the classes it uses now, so JavaScript that later replaces the globals cannot
// change what the engine hands to the host.
const HostReadable = streams.ReadableStream;
const HostReader = streams.ReadableStreamDefaultReader;
/** Each read function `toHost` made -> its stream. */
const streamsRead = new WeakMap();

const bridge = {
  fromHost(source, highWaterMark) {
    return new HostReadable({
      async pull(controller) {
        const next = await source();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel() {
        return source(true);
      },
    }, { highWaterMark });
  },
  toHost(stream) {
    // The reader is taken at the first read, so a stream handed back unread is still unlocked.
    let reader;
    const read = (cancel, reason) => {
      if (reader === undefined) reader = new HostReader(stream);
      return cancel ? reader.cancel(reason).then(() => ({ done: true })) : reader.read();
    };
    streamsRead.set(read, stream);
    return read;
  },
  streamOf(read) {
    return streamsRead.get(read);
  },
  readablePrototype: HostReadable.prototype,
};
