// Event and EventTarget (DOM Standard section 2). There is no tree here: an event's
// path is its target alone, so dispatch runs the capture listeners and then
// the others, all in the AT_TARGET phase.
//
// The signal option uses isAbortSignal, signalIsAborted, addAbortAlgorithm
// and removeAbortAlgorithm, declared by abort.js later in the same scope.

const EVENT_PHASES = { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 };

// Event state lives here rather than in #private fields because dispatch,
// which belongs to EventTarget, updates it.
const eventStates = new WeakMap();

// The engines may have no `performance` global; timeStamp counts from
// bundle evaluation.
const eventTimeOrigin = Date.now();

function eventStateOf(event) {
  const state = eventStates.get(event);
  if (state === undefined) throw new TypeError("Illegal invocation: not an Event");
  return state;
}

// isTrusted is [LegacyUnforgeable]: an own accessor of every event, all of
// them sharing this getter.
const isTrustedDescriptor = {
  get: Object.getOwnPropertyDescriptor(
    { get isTrusted() { return eventStateOf(this).isTrusted; } },
    "isTrusted",
  ).get,
  enumerable: true,
  configurable: false,
};

// "Set the canceled flag".
function cancelEvent(state) {
  if (state.cancelable && !state.inPassiveListener) state.canceled = true;
}

class Event {
  constructor(type, eventInitDict = {}) {
    requireArguments(arguments.length, 1, "Event constructor");
    type = toDOMString(type);
    const init = toDictionary(eventInitDict, "The Event init dictionary");
    eventStates.set(this, {
      type,
      bubbles: Boolean(init.bubbles),
      cancelable: Boolean(init.cancelable),
      composed: Boolean(init.composed),
      target: null,
      currentTarget: null,
      eventPhase: EVENT_PHASES.NONE,
      timeStamp: Date.now() - eventTimeOrigin,
      isTrusted: false,
      canceled: false,
      stopPropagation: false,
      stopImmediatePropagation: false,
      inPassiveListener: false,
      dispatching: false,
    });
    Object.defineProperty(this, "isTrusted", isTrustedDescriptor);
  }

  get type() {
    return eventStateOf(this).type;
  }

  get target() {
    return eventStateOf(this).target;
  }

  get srcElement() {
    return eventStateOf(this).target;
  }

  get currentTarget() {
    return eventStateOf(this).currentTarget;
  }

  composedPath() {
    const { currentTarget } = eventStateOf(this);
    return currentTarget === null ? [] : [currentTarget];
  }

  get eventPhase() {
    return eventStateOf(this).eventPhase;
  }

  stopPropagation() {
    eventStateOf(this).stopPropagation = true;
  }

  get cancelBubble() {
    return eventStateOf(this).stopPropagation;
  }

  set cancelBubble(value) {
    const state = eventStateOf(this);
    if (value) state.stopPropagation = true;
  }

  stopImmediatePropagation() {
    const state = eventStateOf(this);
    state.stopPropagation = true;
    state.stopImmediatePropagation = true;
  }

  get bubbles() {
    return eventStateOf(this).bubbles;
  }

  get cancelable() {
    return eventStateOf(this).cancelable;
  }

  get returnValue() {
    return !eventStateOf(this).canceled;
  }

  set returnValue(value) {
    const state = eventStateOf(this);
    if (!value) cancelEvent(state);
  }

  preventDefault() {
    cancelEvent(eventStateOf(this));
  }

  get defaultPrevented() {
    return eventStateOf(this).canceled;
  }

  get composed() {
    return eventStateOf(this).composed;
  }

  get timeStamp() {
    return eventStateOf(this).timeStamp;
  }

  initEvent(type, bubbles = false, cancelable = false) {
    requireArguments(arguments.length, 1, "Event.initEvent");
    const state = eventStateOf(this);
    type = toDOMString(type);
    if (state.dispatching) return;
    Object.assign(state, {
      type,
      bubbles: Boolean(bubbles),
      cancelable: Boolean(cancelable),
      target: null,
      isTrusted: false,
      canceled: false,
      stopPropagation: false,
      stopImmediatePropagation: false,
    });
  }
}

defineConstants(Event, EVENT_PHASES);
finishInterface(Event);

// Per target: event type -> ordered list of listener records
// { type, callback, capture, passive, once, signal, abortAlgorithm, removed }.
const listenerMaps = new WeakMap();

function listenerMapOf(target) {
  const map = listenerMaps.get(target);
  if (map === undefined) throw new TypeError("Illegal invocation: not an EventTarget");
  return map;
}

// Callback interface conversion: any object (a function or an object with a
// handleEvent method, looked up at call time); null means "no listener".
function toListenerCallback(callback) {
  if (callback === undefined || callback === null) return null;
  if (typeof callback !== "object" && typeof callback !== "function") {
    throw new TypeError("The listener is neither a function nor an object.");
  }
  return callback;
}

// (EventListenerOptions or boolean): a non-object means `capture`.
function isOptionsDictionary(options) {
  return options === undefined || options === null || typeof options === "object" || typeof options === "function";
}

function flattenListenerOptions(options) {
  if (!isOptionsDictionary(options)) return { capture: Boolean(options) };
  return { capture: Boolean(toDictionary(options, "options").capture) };
}

function flattenAddListenerOptions(options) {
  if (!isOptionsDictionary(options)) {
    return { capture: Boolean(options), once: false, passive: false, signal: null };
  }
  const dict = toDictionary(options, "options");
  const capture = Boolean(dict.capture);
  const once = Boolean(dict.once);
  const passive = Boolean(dict.passive);
  let signal = dict.signal;
  if (signal === undefined) {
    signal = null;
  } else if (!isAbortSignal(signal)) {
    throw new TypeError("options.signal is not an AbortSignal.");
  }
  return { capture, once, passive, signal };
}

function findListener(list, callback, capture) {
  return list.findIndex((listener) => listener.callback === callback && listener.capture === capture);
}

// "Add an event listener".
function addListener(target, listener) {
  const { signal } = listener;
  if (signal !== null && signalIsAborted(signal)) return;
  if (listener.callback === null) return;
  const map = listenerMaps.get(target);
  let list = map.get(listener.type);
  if (list === undefined) {
    list = [];
    map.set(listener.type, list);
  }
  if (findListener(list, listener.callback, listener.capture) !== -1) return;
  list.push(listener);
  if (signal !== null) {
    listener.abortAlgorithm = () => removeListener(target, listener);
    addAbortAlgorithm(signal, listener.abortAlgorithm);
  }
}

// "Remove an event listener". The removed flag stops a dispatch in progress,
// which iterates over a copy of the list, from calling it.
function removeListener(target, listener) {
  const list = listenerMaps.get(target).get(listener.type);
  const index = list === undefined ? -1 : list.indexOf(listener);
  if (index === -1) return;
  listener.removed = true;
  list.splice(index, 1);
  if (list.length === 0) listenerMaps.get(target).delete(listener.type);
  // Unregistering the abort algorithm keeps a long-lived signal from
  // accumulating closures of listeners removed by other means.
  if (listener.abortAlgorithm !== undefined) removeAbortAlgorithm(listener.signal, listener.abortAlgorithm);
}

// Listener exceptions must not disturb the dispatch; like a browser's "report
// the exception", rethrow them from a fresh task so they become uncaught.
function reportException(error) {
  setTimeout(() => {
    throw error;
  }, 0);
}

function callListener(callback, event, thisArg) {
  if (typeof callback === "function") {
    Reflect.apply(callback, thisArg, [event]);
    return;
  }
  const handleEvent = callback.handleEvent;
  if (typeof handleEvent !== "function") throw new TypeError("The listener's handleEvent is not a function.");
  Reflect.apply(handleEvent, callback, [event]);
}

// "Invoke" and "inner invoke" for one phase at the only path entry.
function invokeListeners(target, event, state, capturing) {
  if (state.stopPropagation) return;
  state.currentTarget = target;
  const list = listenerMaps.get(target).get(state.type);
  if (list === undefined) return;
  for (const listener of list.slice()) {
    if (listener.removed || listener.capture !== capturing) continue;
    if (listener.once) removeListener(target, listener);
    state.inPassiveListener = listener.passive;
    try {
      callListener(listener.callback, event, target);
    } catch (error) {
      reportException(error);
    }
    state.inPassiveListener = false;
    if (state.stopImmediatePropagation) break;
  }
}

function dispatch(target, event, state) {
  state.dispatching = true;
  state.target = target;
  state.eventPhase = EVENT_PHASES.AT_TARGET;
  invokeListeners(target, event, state, true);
  invokeListeners(target, event, state, false);
  state.eventPhase = EVENT_PHASES.NONE;
  state.currentTarget = null;
  state.dispatching = false;
  state.stopPropagation = false;
  state.stopImmediatePropagation = false;
  return !state.canceled;
}

// "Fire an event": a trusted event dispatched by the platform itself.
function fireEvent(target, type) {
  const event = new Event(type);
  const state = eventStates.get(event);
  state.isTrusted = true;
  return dispatch(target, event, state);
}

class EventTarget {
  constructor() {
    listenerMaps.set(this, new Map());
  }

  addEventListener(type, callback, options = {}) {
    listenerMapOf(this);
    requireArguments(arguments.length, 2, "EventTarget.addEventListener");
    type = toDOMString(type);
    callback = toListenerCallback(callback);
    const { capture, once, passive, signal } = flattenAddListenerOptions(options);
    addListener(this, { type, callback, capture, passive, once, signal, abortAlgorithm: undefined, removed: false });
  }

  removeEventListener(type, callback, options = {}) {
    const map = listenerMapOf(this);
    requireArguments(arguments.length, 2, "EventTarget.removeEventListener");
    type = toDOMString(type);
    callback = toListenerCallback(callback);
    const { capture } = flattenListenerOptions(options);
    const list = map.get(type);
    const index = list === undefined ? -1 : findListener(list, callback, capture);
    if (index !== -1) removeListener(this, list[index]);
  }

  dispatchEvent(event) {
    listenerMapOf(this);
    requireArguments(arguments.length, 1, "EventTarget.dispatchEvent");
    const state = eventStates.get(event);
    if (state === undefined) throw new TypeError("EventTarget.dispatchEvent: parameter 1 is not an Event.");
    if (state.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
    state.isTrusted = false;
    return dispatch(this, event, state);
  }
}

finishInterface(EventTarget);

// Event handler IDL attributes (such as AbortSignal's onabort). The handler
// becomes an ordinary listener when first set and keeps that place in the
// listener list when replaced; setting null removes it.
const eventHandlerMaps = new WeakMap();

function getEventHandler(target, type) {
  listenerMapOf(target);
  const handler = eventHandlerMaps.get(target)?.get(type);
  return handler === undefined ? null : handler.value;
}

function setEventHandler(target, type, value) {
  listenerMapOf(target);
  // [LegacyTreatNonObjectAsNull]
  if (typeof value !== "object" && typeof value !== "function") value = null;
  let handlers = eventHandlerMaps.get(target);
  if (handlers === undefined) {
    handlers = new Map();
    eventHandlerMaps.set(target, handlers);
  }
  let handler = handlers.get(type);
  if (value === null) {
    if (handler !== undefined) {
      removeListener(target, handler.listener);
      handlers.delete(type);
    }
    return;
  }
  if (handler !== undefined) {
    handler.value = value;
    return;
  }
  handler = { value, listener: undefined };
  // "The event handler processing algorithm": a non-callable handler does
  // nothing and a return value of false cancels the event.
  function processEventHandler(event) {
    if (typeof handler.value !== "function") return;
    if (Reflect.apply(handler.value, this, [event]) === false) cancelEvent(eventStateOf(event));
  }
  handler.listener = {
    type, callback: processEventHandler, capture: false, passive: false, once: false,
    signal: null, abortAlgorithm: undefined, removed: false,
  };
  handlers.set(type, handler);
  addListener(target, handler.listener);
}
