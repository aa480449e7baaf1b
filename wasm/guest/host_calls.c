/* Calls from JS to the host: ops by id (`__host_op_sync__`, `__host_op_async__`) and the JS
 * functions that wrap granted callables. Arguments are encoded against one budget, as the V8
 * engine reads them; an async call's promise is kept here until the host completes it. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "guest.h"

/* As the engine's window: async host calls one runtime may have waiting for the host. */
#define MAX_ASYNC_CALLS 10000

typedef struct AsyncCall {
    uint64_t id;
    JSValue resolve;
    JSValue reject;
    size_t bytes;
} AsyncCall;

static AsyncCall *calls;
static uint32_t call_count;
static uint32_t call_capacity;
static size_t call_bytes;
static uint64_t next_call = 1;

/* Live wrappers per grant: the grant is released when its last wrapper is collected. */
typedef struct GrantCount {
    uint32_t grant;
    uint32_t wrappers;
} GrantCount;

static GrantCount *grant_counts;
static uint32_t grant_count_length;

uint8_t *take_answer(size_t *length)
{
    *length = host_answer_length();
    uint8_t *answer = malloc(*length ? *length : 1);
    if (answer)
        host_take_answer(answer);
    return answer;
}

/* The message is set apart: QuickJS's throw helpers cut formatted messages at 256 bytes. */
static JSValue host_error_object(JSContext *ctx, uint8_t kind, const char *text, uint32_t length)
{
    if (kind == HOST_TYPE_ERROR)
        JS_ThrowTypeError(ctx, "%s", "");
    else if (kind == HOST_RANGE_ERROR)
        JS_ThrowRangeError(ctx, "%s", "");
    else
        JS_ThrowPlainError(ctx, "%s", "");
    JSValue error = JS_GetException(ctx);
    JSValue message = JS_NewStringLen(ctx, text, length);
    if (JS_IsException(message)) {
        JS_FreeValue(ctx, error);
        return message;
    }
    JS_DefinePropertyValueStr(ctx, error, "message", message, JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    return error;
}

/* A host error body: u8 kind, u32+message. */
JSValue host_error_value(JSContext *ctx, const uint8_t *data, size_t length)
{
    uint32_t text_length = 0;
    if (length >= 5)
        memcpy(&text_length, data + 1, 4);
    if (length < 5 || text_length > length - 5)
        return host_error_object(ctx, HOST_TYPE_ERROR, "malformed error from the host", 29);
    return host_error_object(ctx, data[0], (const char *)data + 5, text_length);
}

JSValue throw_host_error(JSContext *ctx, const uint8_t *data, size_t length)
{
    JSValue error = host_error_value(ctx, data, length);
    if (JS_IsException(error))
        return error;
    return JS_Throw(ctx, error);
}

/* Encode `argc` arguments as u32 count + values. JS_EXCEPTION when JS threw or (with a
 * TypeError pending) an argument cannot cross. */
static int encode_args(JSContext *ctx, int argc, JSValueConst *argv, Buffer *out, size_t *charged)
{
    Buffer error = { 0 };
    buffer_u32(out, (uint32_t)argc);
    *charged = 0;
    for (int i = 0; i < argc; i++) {
        if (encode_value(ctx, argv[i], out, &error, charged))
            continue;
        if (error.length) {
            char text[256];
            conversion_text(&error, text, sizeof text);
            JS_ThrowTypeError(ctx, "argument %d of a host call: %s", i + 1, text);
        }
        buffer_release(&error);
        return -1;
    }
    buffer_release(&error);
    return 0;
}

static JSValue answer_value(JSContext *ctx)
{
    size_t length;
    uint8_t *answer = take_answer(&length);
    if (!answer)
        return JS_ThrowOutOfMemory(ctx);
    JSValue result;
    if (length == 0) {
        result = JS_ThrowTypeError(ctx, "malformed answer from the host");
    } else if (answer[0] == ANSWER_OK) {
        size_t at = 1;
        result = decode_value(ctx, answer, length, &at);
    } else {
        result = throw_host_error(ctx, answer + 1, length - 1);
    }
    free(answer);
    return result;
}

static JSValue call_sync(JSContext *ctx, uint32_t grant, int argc, JSValueConst *argv)
{
    guest.host_calls_sync++;
    Buffer args = { 0 };
    size_t charged;
    if (encode_args(ctx, argc, argv, &args, &charged) < 0) {
        buffer_release(&args);
        return JS_EXCEPTION;
    }
    host_call(grant, args.data, (uint32_t)args.length);
    buffer_release(&args);
    return answer_value(ctx);
}

static JSValue rejected(JSContext *ctx, JSValue promise, JSValue *funcs, JSValue reason)
{
    JSValue ignored = JS_Call(ctx, funcs[1], JS_UNDEFINED, 1, &reason);
    JS_FreeValue(ctx, ignored);
    JS_FreeValue(ctx, reason);
    JS_FreeValue(ctx, funcs[0]);
    JS_FreeValue(ctx, funcs[1]);
    return promise;
}

static JSValue call_async(JSContext *ctx, uint32_t grant, int argc, JSValueConst *argv)
{
    guest.host_calls_async++;
    JSValue funcs[2];
    JSValue promise = JS_NewPromiseCapability(ctx, funcs);
    if (JS_IsException(promise))
        return promise;
    Buffer args = { 0 };
    size_t charged;
    if (encode_args(ctx, argc, argv, &args, &charged) < 0) {
        buffer_release(&args);
        return rejected(ctx, promise, funcs, JS_GetException(ctx));
    }
    const char *refusal = NULL;
    char text[160];
    if (call_count >= MAX_ASYNC_CALLS) {
        snprintf(text, sizeof text, "async host call refused: more than %d async host calls in flight at once",
                 MAX_ASYNC_CALLS);
        refusal = text;
    } else if (call_bytes + charged > guest.limits.max_bytes) {
        snprintf(text, sizeof text,
                 "async host call refused: async host calls whose values together exceed "
                 "max_serialization_bytes (%u bytes) in flight at once",
                 guest.limits.max_bytes);
        refusal = text;
    } else if (call_count == call_capacity) {
        uint32_t capacity = call_capacity ? call_capacity * 2 : 16;
        AsyncCall *grown = realloc(calls, capacity * sizeof(AsyncCall));
        if (!grown) {
            buffer_release(&args);
            return rejected(ctx, promise, funcs, JS_GetException(ctx));
        }
        calls = grown;
        call_capacity = capacity;
    }
    if (refusal) {
        buffer_release(&args);
        JS_ThrowRangeError(ctx, "%s", refusal);
        return rejected(ctx, promise, funcs, JS_GetException(ctx));
    }
    uint64_t id = next_call++;
    calls[call_count++] = (AsyncCall){ id, funcs[0], funcs[1], charged };
    call_bytes += charged;
    host_call_async(grant, id, args.data, (uint32_t)args.length);
    buffer_release(&args);
    return promise;
}

uint32_t async_calls_in_flight(void) { return call_count; }

bool complete_async_call(JSContext *ctx, uint64_t call, bool ok, const uint8_t *data, size_t length)
{
    uint32_t index = 0;
    while (index < call_count && calls[index].id != call)
        index++;
    if (index == call_count)
        return false;
    AsyncCall done = calls[index];
    calls[index] = calls[--call_count];
    call_bytes -= done.bytes;
    JSValue value;
    if (ok) {
        size_t at = 0;
        value = decode_value(ctx, data, length, &at);
    } else {
        value = host_error_value(ctx, data, length);
    }
    bool fulfil = ok && !JS_IsException(value);
    if (JS_IsException(value))
        value = JS_GetException(ctx);
    JSValue ignored = JS_Call(ctx, fulfil ? done.resolve : done.reject, JS_UNDEFINED, 1, &value);
    JS_FreeValue(ctx, ignored);
    JS_FreeValue(ctx, value);
    JS_FreeValue(ctx, done.resolve);
    JS_FreeValue(ctx, done.reject);
    return true;
}

static bool op_id(JSContext *ctx, int argc, JSValueConst *argv, const char *caller, uint32_t *id)
{
    double number;
    if (argc > 0 && JS_IsNumber(argv[0]) && JS_ToFloat64(ctx, &number, argv[0]) == 0 && number == (double)(int64_t)number &&
        number >= 0 && number <= 4294967295.0) {
        *id = (uint32_t)number;
        return true;
    }
    JS_ThrowTypeError(ctx, "%s expects an op id (the number register_op returned) as its first argument", caller);
    return false;
}

/* `__host_op_sync__(id, ...args)` (magic 0) and `__host_op_async__(id, ...args)` (magic 1). */
static JSValue host_op(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int async)
{
    (void)this_val;
    uint32_t id;
    if (!op_id(ctx, argc, argv, async ? "__host_op_async__" : "__host_op_sync__", &id))
        return JS_EXCEPTION;
    return async ? call_async(ctx, id, argc - 1, argv + 1) : call_sync(ctx, id, argc - 1, argv + 1);
}

/* func_data: [0] the grant id, [1] its token (whose finalizer counts the wrapper gone). */
static JSValue bound_call(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int async,
                          JSValueConst *func_data)
{
    (void)this_val;
    uint32_t grant;
    JS_ToUint32(ctx, &grant, func_data[0]);
    return async ? call_async(ctx, grant, argc, argv) : call_sync(ctx, grant, argc, argv);
}

static GrantCount *count_of(uint32_t grant)
{
    for (uint32_t i = 0; i < grant_count_length; i++)
        if (grant_counts[i].grant == grant)
            return &grant_counts[i];
    return NULL;
}

static void token_finalizer(JSRuntime *rt, JSValueConst token)
{
    (void)rt;
    uint32_t grant = (uint32_t)(uintptr_t)JS_GetOpaque(token, guest.grant_class) - 1;
    GrantCount *count = count_of(grant);
    if (!count || --count->wrappers)
        return;
    *count = grant_counts[--grant_count_length];
    host_release_grant(grant);
}

JSValue host_function(JSContext *ctx, uint32_t grant, bool async)
{
    GrantCount *count = count_of(grant);
    if (!count) {
        GrantCount *grown = realloc(grant_counts, ((size_t)grant_count_length + 1) * sizeof(GrantCount));
        if (!grown)
            return JS_ThrowOutOfMemory(ctx);
        grant_counts = grown;
        count = &grant_counts[grant_count_length++];
        *count = (GrantCount){ grant, 0 };
    }
    JSValue token = JS_NewObjectClass(ctx, guest.grant_class);
    if (JS_IsException(token))
        return token;
    count->wrappers++;
    JS_SetOpaque(token, (void *)(uintptr_t)(grant + 1));
    JSValue data[2] = { JS_NewUint32(ctx, grant), token };
    JSValue wrapper = JS_NewCFunctionData(ctx, bound_call, 0, async, 2, data);
    JS_FreeValue(ctx, token);
    return wrapper;
}

void install_host_calls(JSContext *ctx)
{
    JSClassDef token = { .class_name = "HostGrant", .finalizer = token_finalizer };
    JS_NewClassID(guest.rt, &guest.grant_class);
    JS_NewClass(guest.rt, guest.grant_class, &token);
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "__host_op_sync__",
                      JS_NewCFunctionMagic(ctx, host_op, "__host_op_sync__", 1, JS_CFUNC_generic_magic, 0));
    JS_SetPropertyStr(ctx, global, "__host_op_async__",
                      JS_NewCFunctionMagic(ctx, host_op, "__host_op_async__", 1, JS_CFUNC_generic_magic, 1));
    JS_FreeValue(ctx, global);
}
