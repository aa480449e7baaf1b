// DOMException (WebIDL section 3.14), preceded by the WebIDL conversion helpers that
// the later web/js files share (they are all concatenated into one scope).

// WebIDL DOMString conversion: ToString, which throws a TypeError for symbols
// (String(symbol) would not).
function toDOMString(value) {
  return `${value}`;
}

// WebIDL dictionary conversion: undefined and null mean "all defaults".
function toDictionary(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" && typeof value !== "function") {
    throw new TypeError(`${what} is not an object.`);
  }
  return value;
}

function requireArguments(count, required, what) {
  if (count < required) {
    throw new TypeError(
      `${what}: ${required} argument${required === 1 ? "" : "s"} required, but only ${count} present.`,
    );
  }
}

// WebIDL defines constants as read-only, enumerable, non-configurable
// properties of both the interface object and its prototype.
function defineConstants(ctor, constants) {
  for (const [key, value] of Object.entries(constants)) {
    const descriptor = { value, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(ctor, key, descriptor);
    Object.defineProperty(ctor.prototype, key, descriptor);
  }
}

// WebIDL exposes operations and attributes as enumerable properties and tags
// each prototype with the interface name; class syntax does neither.
function finishInterface(ctor) {
  const own = (target, skipped) => Reflect.ownKeys(target).filter((key) => !skipped.includes(key));
  const members = [
    ...own(ctor, ["length", "name", "prototype"]).map((key) => [ctor, key]),
    ...own(ctor.prototype, ["constructor"]).map((key) => [ctor.prototype, key]),
  ];
  for (const [target, key] of members) {
    // Constants are already enumerable, and not configurable.
    if (Object.getOwnPropertyDescriptor(target, key).configurable) {
      Object.defineProperty(target, key, { enumerable: true });
    }
  }
  Object.defineProperty(ctor.prototype, Symbol.toStringTag, { value: ctor.name, configurable: true });
}

// Legacy constants, in code order: DOMException.INDEX_SIZE_ERR is 1, etc.
const DOM_EXCEPTION_CONSTANTS = [
  "INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "WRONG_DOCUMENT_ERR",
  "INVALID_CHARACTER_ERR", "NO_DATA_ALLOWED_ERR", "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR",
  "NOT_SUPPORTED_ERR", "INUSE_ATTRIBUTE_ERR", "INVALID_STATE_ERR", "SYNTAX_ERR",
  "INVALID_MODIFICATION_ERR", "NAMESPACE_ERR", "INVALID_ACCESS_ERR", "VALIDATION_ERR",
  "TYPE_MISMATCH_ERR", "SECURITY_ERR", "NETWORK_ERR", "ABORT_ERR", "URL_MISMATCH_ERR",
  "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR", "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR",
];

// The error names that have a legacy code; every other name has code 0.
const DOM_EXCEPTION_CODES = new Map([
  ["IndexSizeError", 1], ["HierarchyRequestError", 3], ["WrongDocumentError", 4],
  ["InvalidCharacterError", 5], ["NoModificationAllowedError", 7], ["NotFoundError", 8],
  ["NotSupportedError", 9], ["InUseAttributeError", 10], ["InvalidStateError", 11],
  ["SyntaxError", 12], ["InvalidModificationError", 13], ["NamespaceError", 14],
  ["InvalidAccessError", 15], ["TypeMismatchError", 17], ["SecurityError", 18],
  ["NetworkError", 19], ["AbortError", 20], ["URLMismatchError", 21],
  ["QuotaExceededError", 22], ["TimeoutError", 23], ["InvalidNodeTypeError", 24],
  ["DataCloneError", 25],
]);

class DOMException extends Error {
  #name;
  #message;

  constructor(message = "", name = "Error") {
    message = toDOMString(message);
    name = toDOMString(name);
    // No message argument: `message` must stay the prototype accessor, not
    // become an own data property. V8 formats `stack` lazily, so it still
    // shows "name: message".
    super();
    this.#message = message;
    this.#name = name;
  }

  get name() {
    return this.#name;
  }

  get message() {
    return this.#message;
  }

  get code() {
    return DOM_EXCEPTION_CODES.get(this.#name) ?? 0;
  }
}

defineConstants(
  DOMException,
  Object.fromEntries(DOM_EXCEPTION_CONSTANTS.map((key, index) => [key, index + 1])),
);
finishInterface(DOMException);
