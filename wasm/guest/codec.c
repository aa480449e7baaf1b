/* Values across the boundary (the encoding is described in abi.h). Encoding walks a value
 * once, charging every node against the runtime's depth and byte limits exactly as the V8
 * engine charges them, so both report the same error for the same value; the host checks the
 * result again, trusting nothing. A cycle makes the walk unboundedly deep, so it always ends at
 * a limit; only then is the path from the root searched for an object that contains itself. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "engine_access.h"
#include "guest.h"

/* Bytes charged per node, as the host's NODE_BYTES. */
#define NODE_BYTES 8

enum { ENCODED = 0, NOT_CONVERTIBLE = 1, THREW = 2 };

typedef struct Encoder {
    JSContext *ctx;
    Buffer *out;
    Buffer *error;
    size_t charged;
    /* Objects on the path from the root to the node being encoded. */
    void **path;
    size_t path_length;
    size_t path_capacity;
} Encoder;

void buffer_reserve(Buffer *b, size_t more)
{
    if (b->failed || b->length + more <= b->capacity)
        return;
    size_t capacity = b->capacity ? b->capacity : 256;
    while (capacity < b->length + more)
        capacity *= 2;
    uint8_t *data = realloc(b->data, capacity);
    if (!data) {
        b->failed = true;
        return;
    }
    b->data = data;
    b->capacity = capacity;
}

void buffer_put(Buffer *b, const void *data, size_t length)
{
    buffer_reserve(b, length);
    if (b->failed)
        return;
    if (length)
        memcpy(b->data + b->length, data, length);
    b->length += length;
}

void buffer_u8(Buffer *b, uint8_t value) { buffer_put(b, &value, 1); }
void buffer_u32(Buffer *b, uint32_t value) { buffer_put(b, &value, 4); }
void buffer_u64(Buffer *b, uint64_t value) { buffer_put(b, &value, 8); }
void buffer_f64(Buffer *b, double value) { buffer_put(b, &value, 8); }

void buffer_text(Buffer *b, const char *text, size_t length)
{
    buffer_u32(b, (uint32_t)length);
    buffer_put(b, text, length);
}

void buffer_clear(Buffer *b)
{
    b->length = 0;
    b->failed = false;
}

void buffer_release(Buffer *b)
{
    free(b->data);
    *b = (Buffer){ 0 };
}

void conversion_text(const Buffer *error, char *into, size_t size)
{
    uint8_t kind = error->length ? error->data[0] : CONVERSION_TOO_LARGE;
    switch (kind) {
    case CONVERSION_CYCLE:
        snprintf(into, size, "value contains a cycle (an object that contains itself) and cannot be converted");
        break;
    case CONVERSION_TOO_DEEP:
        snprintf(into, size, "value is nested deeper than max_serialization_depth (%u)", guest.limits.max_depth);
        break;
    case CONVERSION_UNSUPPORTED: {
        uint32_t length = 0;
        if (error->length >= 5)
            memcpy(&length, error->data + 1, 4);
        if (length > error->length - 5)
            length = 0;
        snprintf(into, size, "cannot convert %.*s", (int)length, (const char *)error->data + 5);
        break;
    }
    default:
        snprintf(into, size, "value is larger than max_serialization_bytes (%u bytes)", guest.limits.max_bytes);
    }
}

static int not_convertible(Encoder *e, uint8_t kind, const char *what)
{
    buffer_clear(e->error);
    buffer_u8(e->error, kind);
    if (what)
        buffer_text(e->error, what, strlen(what));
    return NOT_CONVERTIBLE;
}

static int unsupported(Encoder *e, const char *what)
{
    char text[128];
    snprintf(text, sizeof text, "%s to a host value", what);
    return not_convertible(e, CONVERSION_UNSUPPORTED, text);
}

/* A limit was reached: report the cycle instead if the path holds one. */
static int limit_hit(Encoder *e, uint8_t limit)
{
    for (size_t i = 0; i < e->path_length; i++)
        for (size_t j = i + 1; j < e->path_length; j++)
            if (e->path[i] == e->path[j])
                return not_convertible(e, CONVERSION_CYCLE, NULL);
    return not_convertible(e, limit, NULL);
}

static int charge(Encoder *e, size_t bytes)
{
    e->charged += bytes + NODE_BYTES;
    if (e->charged > guest.limits.max_bytes)
        return limit_hit(e, CONVERSION_TOO_LARGE);
    return ENCODED;
}

static int encode_at(Encoder *e, JSValueConst value, uint32_t depth);

static int encode_string(Encoder *e, JSValueConst value, bool charged_as_key)
{
    size_t length;
    const char *text = JS_ToCStringLen(e->ctx, &length, value);
    if (!text)
        return THREW;
    int status = charge(e, length);
    if (status == ENCODED) {
        if (!charged_as_key)
            buffer_u8(e->out, TAG_STRING);
        buffer_text(e->out, text, length);
    }
    JS_FreeCString(e->ctx, text);
    return status;
}

static int encode_bigint(Encoder *e, JSValueConst value)
{
    JSValue radix = JS_NewInt32(e->ctx, 16);
    JSValue hex = JS_Call(e->ctx, guest.bigint_to_hex, value, 1, &radix);
    if (JS_IsException(hex))
        return THREW;
    size_t length;
    const char *text = JS_ToCStringLen(e->ctx, &length, hex);
    JS_FreeValue(e->ctx, hex);
    if (!text)
        return THREW;
    bool negative = text[0] == '-';
    const char *digits = text + negative;
    size_t count = length - negative;
    if (count == 1 && digits[0] == '0')
        count = 0;
    int status = charge(e, (count + 15) / 16 * 8);
    if (status == ENCODED) {
        buffer_u8(e->out, TAG_BIGINT);
        buffer_u8(e->out, negative);
        buffer_text(e->out, digits, count);
    }
    JS_FreeCString(e->ctx, text);
    return status;
}

static int encode_items(Encoder *e, JSValueConst array, uint32_t depth)
{
    int64_t length;
    if (JS_GetLength(e->ctx, array, &length) < 0)
        return THREW;
    buffer_u8(e->out, TAG_ARRAY);
    buffer_u32(e->out, (uint32_t)length);
    for (int64_t i = 0; i < length; i++) {
        JSValue item = JS_GetPropertyInt64(e->ctx, array, i);
        if (JS_IsException(item))
            return THREW;
        int status = encode_at(e, item, depth + 1);
        JS_FreeValue(e->ctx, item);
        if (status != ENCODED)
            return status;
    }
    return ENCODED;
}

typedef struct Entries {
    JSContext *ctx;
    JSValue *values;
    size_t length;
    bool failed;
} Entries;

static int collect_entry(void *opaque, JSValueConst key, JSValueConst value)
{
    Entries *entries = opaque;
    entries->values[entries->length++] = JS_DupValue(entries->ctx, key);
    entries->values[entries->length++] = JS_DupValue(entries->ctx, value);
    return 0;
}

/* Entries are copied out first: encoding them may run getters that change the collection. */
static int encode_collection(Encoder *e, JSValueConst collection, bool is_map, uint32_t depth)
{
    uint32_t size = jscell_collection_size(collection);
    Entries entries = { e->ctx, calloc((size_t)size * 2 + 1, sizeof(JSValue)), 0, false };
    if (!entries.values)
        return limit_hit(e, CONVERSION_TOO_LARGE);
    jscell_collection_entries(collection, collect_entry, &entries);
    buffer_u8(e->out, is_map ? TAG_MAP : TAG_SET);
    buffer_u32(e->out, (uint32_t)(entries.length / 2));
    int status = ENCODED;
    for (size_t i = 0; i < entries.length && status == ENCODED; i += 2) {
        status = encode_at(e, entries.values[i], depth + 1);
        if (status == ENCODED && is_map)
            status = encode_at(e, entries.values[i + 1], depth + 1);
    }
    for (size_t i = 0; i < entries.length; i++)
        JS_FreeValue(e->ctx, entries.values[i]);
    free(entries.values);
    return status;
}

static int encode_properties(Encoder *e, JSValueConst object, uint32_t depth)
{
    JSPropertyEnum *keys;
    uint32_t count;
    if (JS_GetOwnPropertyNames(e->ctx, &keys, &count, object, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) < 0)
        return THREW;
    buffer_u8(e->out, TAG_OBJECT);
    buffer_u32(e->out, count);
    int status = ENCODED;
    for (uint32_t i = 0; i < count && status == ENCODED; i++) {
        JSValue name = JS_AtomToString(e->ctx, keys[i].atom);
        status = JS_IsException(name) ? THREW : encode_string(e, name, true);
        JS_FreeValue(e->ctx, name);
        if (status != ENCODED)
            break;
        JSValue item = JS_GetProperty(e->ctx, object, keys[i].atom);
        if (JS_IsException(item)) {
            status = THREW;
            break;
        }
        status = encode_at(e, item, depth + 1);
        JS_FreeValue(e->ctx, item);
    }
    JS_FreePropertyEnum(e->ctx, keys, count);
    return status;
}

static int encode_object(Encoder *e, JSValueConst value, uint32_t depth)
{
    if (JS_IsPromise(value))
        return unsupported(e, "a Promise (await it before returning it)");
    if (JS_IsProxy(value))
        return unsupported(e, "a Proxy");
    if (is_stream(value)) {
        JSValue read = stream_to_host(e->ctx, value);
        if (JS_IsException(read))
            return THREW;
        buffer_u8(e->out, TAG_STREAM);
        buffer_u64(e->out, keep_function(e->ctx, read));
        JS_FreeValue(e->ctx, read);
        return ENCODED;
    }
    if (jscell_is_weak_collection(value))
        return unsupported(e, "a WeakMap or WeakSet");
    const uint8_t *bytes;
    size_t length;
    if (jscell_bytes_of(value, &bytes, &length)) {
        int status = charge(e, length);
        if (status == ENCODED) {
            buffer_u8(e->out, TAG_BYTES);
            buffer_u32(e->out, (uint32_t)length);
            buffer_put(e->out, bytes, length);
        }
        return status;
    }
    double millis;
    if (jscell_date_value(value, &millis)) {
        if (millis != millis)
            return unsupported(e, "an invalid Date");
        buffer_u8(e->out, TAG_DATE);
        buffer_f64(e->out, millis);
        return ENCODED;
    }
    if (e->path_length == e->path_capacity) {
        size_t capacity = e->path_capacity ? e->path_capacity * 2 : 64;
        void **path = realloc(e->path, capacity * sizeof(void *));
        if (!path)
            return limit_hit(e, CONVERSION_TOO_LARGE);
        e->path = path;
        e->path_capacity = capacity;
    }
    e->path[e->path_length++] = JS_VALUE_GET_PTR(value);
    int status;
    if (JS_IsArray(value))
        status = encode_items(e, value, depth);
    else if (JS_IsMap(value) || JS_IsSet(value))
        status = encode_collection(e, value, JS_IsMap(value), depth);
    else
        status = encode_properties(e, value, depth);
    e->path_length--;
    return status;
}

static int encode_at(Encoder *e, JSValueConst value, uint32_t depth)
{
    if (depth > guest.limits.max_depth)
        return limit_hit(e, CONVERSION_TOO_DEEP);
    if (JS_IsString(value))
        return encode_string(e, value, false);
    int status = charge(e, 0);
    if (status != ENCODED)
        return status;
    if (JS_IsNumber(value)) {
        double number;
        JS_ToFloat64(e->ctx, &number, value);
        buffer_u8(e->out, TAG_NUMBER);
        buffer_f64(e->out, number);
        return ENCODED;
    }
    if (JS_IsUndefined(value) || JS_IsUninitialized(value)) {
        buffer_u8(e->out, TAG_UNDEFINED);
        return ENCODED;
    }
    if (JS_IsNull(value)) {
        buffer_u8(e->out, TAG_NULL);
        return ENCODED;
    }
    if (JS_IsBool(value)) {
        buffer_u8(e->out, JS_ToBool(e->ctx, value) ? TAG_TRUE : TAG_FALSE);
        return ENCODED;
    }
    if (JS_IsBigInt(value))
        return encode_bigint(e, value);
    if (JS_IsSymbol(value))
        return unsupported(e, "a Symbol");
    if (JS_IsFunction(e->ctx, value)) {
        buffer_u8(e->out, TAG_FUNCTION);
        buffer_u64(e->out, keep_function(e->ctx, value));
        return ENCODED;
    }
    if (!JS_IsObject(value))
        return unsupported(e, "an unknown kind of JavaScript value");
    return encode_object(e, value, depth);
}

bool encode_value(JSContext *ctx, JSValueConst value, Buffer *out, Buffer *error, size_t *charged)
{
    Encoder e = { ctx, out, error, charged ? *charged : 0, NULL, 0, 0 };
    int status = encode_at(&e, value, 0);
    free(e.path);
    if (charged)
        *charged = e.charged;
    if (status == ENCODED && out->failed)
        status = not_convertible(&e, CONVERSION_TOO_LARGE, NULL);
    if (status == THREW) {
        buffer_clear(error);
        return false;
    }
    return status == ENCODED;
}

/* Decoding: the host's encoding, already checked against the limits by the host. Malformed
 * input is still refused, never read past. */

typedef struct Decoder {
    JSContext *ctx;
    const uint8_t *data;
    size_t length;
    size_t at;
} Decoder;

static bool take(Decoder *d, void *into, size_t count)
{
    if (d->length - d->at < count)
        return false;
    memcpy(into, d->data + d->at, count);
    d->at += count;
    return true;
}

static JSValue malformed(Decoder *d)
{
    return JS_ThrowTypeError(d->ctx, "malformed value from the host");
}

static bool take_text(Decoder *d, const char **text, uint32_t *length)
{
    if (!take(d, length, 4) || d->length - d->at < *length)
        return false;
    *text = (const char *)d->data + d->at;
    d->at += *length;
    return true;
}

static JSValue decode_at(Decoder *d);

static JSValue decode_bigint(Decoder *d)
{
    uint8_t negative;
    const char *digits;
    uint32_t count;
    if (!take(d, &negative, 1) || !take_text(d, &digits, &count))
        return malformed(d);
    char *text = malloc((size_t)count + 3);
    if (!text)
        return JS_ThrowOutOfMemory(d->ctx);
    memcpy(text, "0x", 2);
    memcpy(text + 2, digits, count);
    text[count + 2] = 0;
    if (count == 0)
        text[2] = '0', text[3] = 0;
    JSValue args[2] = { JS_NewString(d->ctx, text), JS_NewBool(d->ctx, negative) };
    free(text);
    JSValue result = JS_Call(d->ctx, guest.bigint_from_hex, JS_UNDEFINED, 2, args);
    JS_FreeValue(d->ctx, args[0]);
    return result;
}

static JSValue decode_list(Decoder *d, uint8_t tag)
{
    uint32_t count;
    if (!take(d, &count, 4))
        return malformed(d);
    JSValue list = tag == TAG_ARRAY ? JS_NewArray(d->ctx) : jscell_new_collection(d->ctx, tag == TAG_MAP);
    if (JS_IsException(list))
        return list;
    for (uint32_t i = 0; i < count; i++) {
        JSValue item = decode_at(d);
        if (JS_IsException(item))
            goto fail;
        if (tag == TAG_ARRAY) {
            if (JS_SetPropertyUint32(d->ctx, list, i, item) < 0)
                goto fail;
            continue;
        }
        JSValue second = JS_UNDEFINED;
        if (tag == TAG_MAP) {
            second = decode_at(d);
            if (JS_IsException(second)) {
                JS_FreeValue(d->ctx, item);
                goto fail;
            }
        }
        int status = jscell_collection_add(d->ctx, list, item, second);
        if (status < 0)
            goto fail;
    }
    return list;
fail:
    JS_FreeValue(d->ctx, list);
    return JS_EXCEPTION;
}

static JSValue decode_object(Decoder *d)
{
    uint32_t count;
    if (!take(d, &count, 4))
        return malformed(d);
    JSValue object = JS_NewObject(d->ctx);
    if (JS_IsException(object))
        return object;
    for (uint32_t i = 0; i < count; i++) {
        const char *key;
        uint32_t key_length;
        if (!take_text(d, &key, &key_length)) {
            JS_FreeValue(d->ctx, object);
            return malformed(d);
        }
        JSAtom atom = JS_NewAtomLen(d->ctx, key, key_length);
        JSValue item = decode_at(d);
        if (atom == JS_ATOM_NULL || JS_IsException(item)) {
            JS_FreeAtom(d->ctx, atom);
            JS_FreeValue(d->ctx, object);
            return JS_EXCEPTION;
        }
        /* Defined, not assigned: a key such as "__proto__" stays an own property. */
        int status = JS_DefinePropertyValue(d->ctx, object, atom, item, JS_PROP_C_W_E);
        JS_FreeAtom(d->ctx, atom);
        if (status < 0) {
            JS_FreeValue(d->ctx, object);
            return JS_EXCEPTION;
        }
    }
    return object;
}

static JSValue decode_at(Decoder *d)
{
    uint8_t tag;
    if (!take(d, &tag, 1))
        return malformed(d);
    double number;
    const char *text;
    uint32_t length;
    switch (tag) {
    case TAG_UNDEFINED: return JS_UNDEFINED;
    case TAG_NULL: return JS_NULL;
    case TAG_FALSE: return JS_FALSE;
    case TAG_TRUE: return JS_TRUE;
    case TAG_NUMBER:
        if (!take(d, &number, 8))
            return malformed(d);
        return JS_NewNumber(d->ctx, number);
    case TAG_DATE:
        if (!take(d, &number, 8))
            return malformed(d);
        return JS_NewDate(d->ctx, number);
    case TAG_BIGINT: return decode_bigint(d);
    case TAG_STRING:
        if (!take_text(d, &text, &length))
            return malformed(d);
        return JS_NewStringLen(d->ctx, text, length);
    case TAG_BYTES:
        if (!take_text(d, &text, &length))
            return malformed(d);
        return JS_NewUint8ArrayCopy(d->ctx, (const uint8_t *)text, length);
    case TAG_ARRAY:
    case TAG_SET:
    case TAG_MAP: return decode_list(d, tag);
    case TAG_OBJECT: return decode_object(d);
    case TAG_FUNCTION: {
        uint64_t handle;
        if (!take(d, &handle, 8))
            return malformed(d);
        return kept_function(d->ctx, handle);
    }
    case TAG_HOST_FUNCTION: {
        uint32_t grant;
        uint8_t async;
        if (!take(d, &grant, 4) || !take(d, &async, 1))
            return malformed(d);
        return host_function(d->ctx, grant, async != 0);
    }
    case TAG_STREAM: {
        uint64_t handle;
        if (!take(d, &handle, 8))
            return malformed(d);
        return stream_of_reader(d->ctx, kept_function(d->ctx, handle));
    }
    case TAG_HOST_STREAM: {
        uint32_t grant, high_water_mark;
        if (!take(d, &grant, 4) || !take(d, &high_water_mark, 4))
            return malformed(d);
        return stream_from_host(d->ctx, host_function(d->ctx, grant, true), high_water_mark);
    }
    default: return malformed(d);
    }
}

JSValue decode_value(JSContext *ctx, const uint8_t *data, size_t length, size_t *at)
{
    Decoder d = { ctx, data, length, *at };
    JSValue value = decode_at(&d);
    *at = d.at;
    return value;
}
