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
      // One host call fills what the queue has room for (one chunk when a read waits on an
      // empty queue): a stream allowed to run ahead crosses the boundary once per batch.
      async pull(controller) {
        const { chunks, done } = await source(false, Math.max(1, controller.desiredSize));
        for (const chunk of chunks) controller.enqueue(chunk);
        if (done) controller.close();
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
