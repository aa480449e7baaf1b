// AbortSignal and AbortController (DOM Standard section 3.1-3.2).

// Per signal: { reason, algorithms, dependent, sources, dependents }. A signal
// is aborted exactly when its reason is not undefined, since aborting always
// stores a reason (a DOMException when none is given).
const signalStates = new WeakMap();

// Only this scope can construct signals; `new AbortSignal()` is illegal.
const signalConstructorKey = Symbol("AbortSignal constructor key");

// Host timers take a signed 32-bit delay; longer waits are split.
const MAX_TIMER_DELAY = 0x7fffffff;

function isAbortSignal(value) {
  return signalStates.has(value);
}

function signalStateOf(signal) {
  const state = signalStates.get(signal);
  if (state === undefined) throw new TypeError("Illegal invocation: not an AbortSignal");
  return state;
}

function signalIsAborted(signal) {
  return signalStates.get(signal).reason !== undefined;
}

function addAbortAlgorithm(signal, algorithm) {
  const state = signalStates.get(signal);
  if (state.reason === undefined) state.algorithms.add(algorithm);
}

function removeAbortAlgorithm(signal, algorithm) {
  signalStates.get(signal).algorithms.delete(algorithm);
}

// "Run the abort steps".
function runAbortSteps(signal, state) {
  const algorithms = [...state.algorithms];
  state.algorithms.clear();
  for (const algorithm of algorithms) algorithm();
  fireEvent(signal, "abort");
}

// An aborted dependent never aborts again, so its links to its sources are
// dropped: a long-lived source would otherwise keep every dependent alive.
function unlinkDependent(signal, state) {
  for (const source of state.sources) signalStates.get(source).dependents.delete(signal);
  state.sources.clear();
}

function defaultAbortReason() {
  return new DOMException("This operation was aborted", "AbortError");
}

// "Signal abort", for the signals of controllers and timeouts; the signals of
// AbortSignal.any abort only through their sources. Dependents are marked
// aborted before any abort event fires.
function signalAbort(signal, reason) {
  const state = signalStates.get(signal);
  if (state.reason !== undefined) return;
  state.reason = reason === undefined ? defaultAbortReason() : reason;
  const dependentsToAbort = [];
  for (const dependent of state.dependents) {
    const dependentState = signalStates.get(dependent);
    if (dependentState.reason === undefined) {
      dependentState.reason = state.reason;
      dependentsToAbort.push([dependent, dependentState]);
    }
  }
  state.dependents.clear();
  for (const [dependent, dependentState] of dependentsToAbort) unlinkDependent(dependent, dependentState);
  runAbortSteps(signal, state);
  for (const [dependent, dependentState] of dependentsToAbort) runAbortSteps(dependent, dependentState);
}

// WebIDL [EnforceRange] unsigned long long. Unary plus, unlike Number(),
// throws for BigInts as ToNumber does.
function toEnforcedUnsignedLongLong(value, what) {
  const number = +value;
  if (!Number.isFinite(number)) throw new TypeError(`${what} is not a finite number.`);
  const integer = Math.trunc(number);
  if (integer < 0 || integer > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`${what} is outside the range of an unsigned long long.`);
  }
  return integer;
}

function setLongTimeout(callback, milliseconds) {
  if (milliseconds <= MAX_TIMER_DELAY) {
    setTimeout(callback, milliseconds);
  } else {
    setTimeout(() => setLongTimeout(callback, milliseconds - MAX_TIMER_DELAY), MAX_TIMER_DELAY);
  }
}

class AbortSignal extends EventTarget {
  constructor(key) {
    if (key !== signalConstructorKey) throw new TypeError("Illegal constructor");
    super();
    signalStates.set(this, {
      reason: undefined,
      algorithms: new Set(),
      dependent: false,
      sources: new Set(),
      dependents: new Set(),
    });
  }

  static abort(reason = undefined) {
    const signal = new AbortSignal(signalConstructorKey);
    signalStates.get(signal).reason = reason === undefined ? defaultAbortReason() : reason;
    return signal;
  }

  static timeout(milliseconds) {
    requireArguments(arguments.length, 1, "AbortSignal.timeout");
    milliseconds = toEnforcedUnsignedLongLong(milliseconds, "AbortSignal.timeout: milliseconds");
    const signal = new AbortSignal(signalConstructorKey);
    setLongTimeout(() => {
      signalAbort(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    }, milliseconds);
    return signal;
  }

  // "Create a dependent abort signal". Sources are never dependent signals
  // themselves: a dependent argument contributes its own sources.
  static any(signals) {
    requireArguments(arguments.length, 1, "AbortSignal.any");
    if (typeof signals !== "object" || signals === null) {
      throw new TypeError("AbortSignal.any: signals is not a sequence.");
    }
    const sources = [];
    for (const signal of signals) {
      if (!isAbortSignal(signal)) throw new TypeError("AbortSignal.any: an element is not an AbortSignal.");
      sources.push(signal);
    }
    const result = new AbortSignal(signalConstructorKey);
    const state = signalStates.get(result);
    for (const signal of sources) {
      const { reason } = signalStates.get(signal);
      if (reason !== undefined) {
        state.reason = reason;
        return result;
      }
    }
    state.dependent = true;
    for (const signal of sources) {
      const sourceState = signalStates.get(signal);
      for (const source of sourceState.dependent ? sourceState.sources : [signal]) {
        state.sources.add(source);
        signalStates.get(source).dependents.add(result);
      }
    }
    return result;
  }

  get aborted() {
    return signalStateOf(this).reason !== undefined;
  }

  get reason() {
    return signalStateOf(this).reason;
  }

  throwIfAborted() {
    const { reason } = signalStateOf(this);
    if (reason !== undefined) throw reason;
  }

  get onabort() {
    return getEventHandler(this, "abort");
  }

  set onabort(value) {
    setEventHandler(this, "abort", value);
  }
}

finishInterface(AbortSignal);

class AbortController {
  #signal = new AbortSignal(signalConstructorKey);

  get signal() {
    return this.#signal;
  }

  abort(reason = undefined) {
    signalAbort(this.#signal, reason);
  }
}

finishInterface(AbortController);
