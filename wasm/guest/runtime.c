/* The guest's exports: one QuickJS runtime and context per instance, the JS each request runs,
 * and what it left behind (a value, an exception, a promise still pending) as an outcome in the
 * result buffer. The host drives the event loop; this file runs one step of it per export. */

#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "engine_access.h"
#include "guest.h"

/* C stack QuickJS may use below an export's frame before it throws a RangeError; the linked
 * stack is larger (wasm/build.rs), leaving room for the frames that check. */
#define STACK_BUDGET (6u << 20)

Guest guest;

/* Promises a request waits for, by id, until the host settles or forgets them. */
typedef struct Kept {
    uint32_t id;
    JSValue promise;
} Kept;

static Kept *kept;
static uint32_t kept_count;
static uint32_t next_kept = 1;

static int interrupt_handler(JSRuntime *rt, void *opaque)
{
    (void)rt;
    (void)opaque;
    if (guest.heap_exhausted || host_interrupted())
        guest.interrupted = true;
    return guest.interrupted;
}

static void text_of(JSContext *ctx, JSValueConst value, Buffer *out)
{
    size_t length = 0;
    const char *text = JS_ToCStringLen(ctx, &length, value);
    if (!text)
        JS_FreeValue(ctx, JS_GetException(ctx));
    buffer_text(out, text ? text : "", text ? length : 0);
    JS_FreeCString(ctx, text);
}

/* A property as text, or false when absent or undefined (or when reading it threw). */
static bool property_text(JSContext *ctx, JSValueConst object, const char *name, Buffer *out)
{
    JSValue value = JS_GetPropertyStr(ctx, object, name);
    if (JS_IsException(value)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return false;
    }
    bool present = !JS_IsUndefined(value);
    if (present)
        text_of(ctx, value, out);
    JS_FreeValue(ctx, value);
    return present;
}

static bool error_like(JSContext *ctx, JSValueConst value)
{
    if (JS_IsError(value))
        return true;
    if (!JS_IsObject(value))
        return false;
    JSAtom message = JS_NewAtom(ctx, "message");
    int has = JS_HasProperty(ctx, value, message);
    JS_FreeAtom(ctx, message);
    return has > 0;
}

void describe_exception(JSContext *ctx, JSValueConst exception, Buffer *out)
{
    if (error_like(ctx, exception)) {
        if (!property_text(ctx, exception, "name", out))
            buffer_text(out, "Error", 5);
        if (!property_text(ctx, exception, "message", out))
            buffer_text(out, "", 0);
        size_t flag = out->length;
        buffer_u8(out, 1);
        if (!property_text(ctx, exception, "stack", out) && !out->failed)
            out->data[flag] = 0;
    } else {
        buffer_text(out, "Uncaught", 8);
        text_of(ctx, exception, out);
        buffer_u8(out, 0);
    }
}

/* The outcome of JS that stopped: the heap limit or an interrupt outrank what it threw. */
static int stopped(JSContext *ctx, Buffer *out)
{
    buffer_clear(out);
    JSValue exception = JS_GetException(ctx);
    int outcome;
    if (guest.heap_exhausted) {
        outcome = OUTCOME_HEAP_LIMIT;
    } else if (guest.interrupted || JS_IsUncatchableError(exception)) {
        outcome = OUTCOME_INTERRUPTED;
    } else {
        describe_exception(ctx, exception, out);
        outcome = OUTCOME_EXCEPTION;
    }
    JS_FreeValue(ctx, exception);
    return outcome;
}

void locate_compile_error(JSContext *ctx)
{
    JSValue exception = JS_GetException(ctx);
    JSValue stack = JS_IsError(exception) ? JS_GetPropertyStr(ctx, exception, "stack") : JS_UNDEFINED;
    const char *frames = JS_IsString(stack) ? JS_ToCString(ctx, stack) : NULL;
    const char *at = frames ? strstr(frames, "at ") : NULL;
    JSValue message = at ? JS_GetPropertyStr(ctx, exception, "message") : JS_UNDEFINED;
    const char *text = JS_IsString(message) ? JS_ToCString(ctx, message) : NULL;
    if (text) {
        const char *location = at + 3;
        size_t length = strcspn(location, "\n");
        Buffer located = { 0 };
        buffer_put(&located, text, strlen(text));
        buffer_put(&located, " at ", 4);
        buffer_put(&located, location, length);
        if (!located.failed)
            JS_DefinePropertyValueStr(ctx, exception, "message", JS_NewStringLen(ctx, (const char *)located.data, located.length),
                                      JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
        buffer_release(&located);
    }
    JS_FreeCString(ctx, text);
    JS_FreeCString(ctx, frames);
    JS_FreeValue(ctx, message);
    JS_FreeValue(ctx, stack);
    JS_Throw(ctx, exception);
}

void drain_jobs(JSContext *ctx)
{
    JSContext *job_ctx;
    while (!guest.interrupted && !guest.heap_exhausted && JS_IsJobPending(guest.rt)) {
        if (JS_ExecutePendingJob(guest.rt, &job_ctx) >= 0)
            continue;
        JSValue exception = JS_GetException(ctx);
        if (!guest.interrupted && !guest.heap_exhausted && !JS_IsUncatchableError(exception)) {
            Buffer described = { 0 };
            describe_exception(ctx, exception, &described);
            host_uncaught(described.data, (uint32_t)described.length);
            buffer_release(&described);
        }
        JS_FreeValue(ctx, exception);
    }
}

/* Encode `value` (consumed) as the outcome, or the conversion error or exception instead. */
static int value_outcome(JSContext *ctx, JSValue value)
{
    Buffer *out = &guest.result;
    Buffer error = { 0 };
    buffer_clear(out);
    bool encoded = encode_value(ctx, value, out, &error, NULL);
    JS_FreeValue(ctx, value);
    int outcome = OUTCOME_VALUE;
    if (!encoded && error.length) {
        buffer_clear(out);
        buffer_put(out, error.data, error.length);
        outcome = OUTCOME_CONVERSION;
    } else if (!encoded) {
        outcome = stopped(ctx, out);
    }
    buffer_release(&error);
    if (guest.heap_exhausted)
        return OUTCOME_HEAP_LIMIT;
    return guest.interrupted ? OUTCOME_INTERRUPTED : outcome;
}

static int keep_promise(JSContext *ctx, JSValue promise)
{
    Kept *grown = realloc(kept, ((size_t)kept_count + 1) * sizeof(Kept));
    if (!grown) {
        JS_FreeValue(ctx, promise);
        return OUTCOME_HEAP_LIMIT;
    }
    kept = grown;
    uint32_t id = next_kept++;
    kept[kept_count++] = (Kept){ id, promise };
    buffer_clear(&guest.result);
    buffer_u32(&guest.result, id);
    return OUTCOME_PENDING;
}

/* The value of a settled promise (consumed), or its rejection as the exception. */
static int settled_outcome(JSContext *ctx, JSValue promise)
{
    JSPromiseStateEnum state = JS_PromiseState(ctx, promise);
    JSValue result = JS_PromiseResult(ctx, promise);
    JS_FreeValue(ctx, promise);
    if (state == JS_PROMISE_REJECTED) {
        buffer_clear(&guest.result);
        describe_exception(ctx, result, &guest.result);
        JS_FreeValue(ctx, result);
        return guest.heap_exhausted ? OUTCOME_HEAP_LIMIT : OUTCOME_EXCEPTION;
    }
    return value_outcome(ctx, result);
}

/* What JS produced (consumed): jobs drained, then a value, or a promise to wait for. */
static int outcome_of(JSContext *ctx, JSValue value)
{
    if (JS_IsException(value))
        return stopped(ctx, &guest.result);
    drain_jobs(ctx);
    if (guest.heap_exhausted || guest.interrupted) {
        JS_FreeValue(ctx, value);
        return guest.heap_exhausted ? OUTCOME_HEAP_LIMIT : OUTCOME_INTERRUPTED;
    }
    if (JS_IsPromise(value)) {
        if (JS_PromiseState(ctx, value) == JS_PROMISE_PENDING)
            return keep_promise(ctx, value);
        return settled_outcome(ctx, value);
    }
    return value_outcome(ctx, value);
}

static void begin(void)
{
    guest.interrupted = false;
    buffer_clear(&guest.result);
}

/* A step that produces no value: its outcome is `undefined`, unless JS was stopped. */
static int done(void)
{
    if (guest.heap_exhausted)
        return OUTCOME_HEAP_LIMIT;
    if (guest.interrupted)
        return OUTCOME_INTERRUPTED;
    buffer_clear(&guest.result);
    buffer_u8(&guest.result, TAG_UNDEFINED);
    return OUTCOME_VALUE;
}

static int invalid(const char *text)
{
    buffer_clear(&guest.result);
    buffer_text(&guest.result, text, strlen(text));
    return OUTCOME_INVALID;
}

EXPORT("jscell_alloc") void *jscell_alloc(uint32_t size) { return malloc(size ? size : 1); }
EXPORT("jscell_free") void jscell_free(void *block) { free(block); }
EXPORT("jscell_result_ptr") const uint8_t *jscell_result_ptr(void) { return guest.result.data; }
EXPORT("jscell_result_len") uint32_t jscell_result_len(void) { return (uint32_t)guest.result.length; }

/* Create the runtime and its globals: everything an instance has before its configuration. */
EXPORT("jscell_boot") int jscell_boot(void)
{
    guest.rt = JS_NewRuntime2(heap_functions(), NULL);
    if (!guest.rt)
        return OUTCOME_HEAP_LIMIT;
    jscell_set_stack_budget(guest.rt, STACK_BUDGET);
    JS_SetInterruptHandler(guest.rt, interrupt_handler, NULL);
    install_module_loader(guest.rt);
    JSContext *ctx = guest.ctx = JS_NewContext(guest.rt);
    if (!ctx)
        return OUTCOME_HEAP_LIMIT;
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue bigint = JS_GetPropertyStr(ctx, global, "BigInt");
    JSValue prototype = JS_GetPropertyStr(ctx, bigint, "prototype");
    guest.bigint_to_hex = JS_GetPropertyStr(ctx, prototype, "toString");
    JSValue json = JS_GetPropertyStr(ctx, global, "JSON");
    guest.json_stringify = JS_GetPropertyStr(ctx, json, "stringify");
    const char *from_hex = "(hex, negative) => negative ? -BigInt(hex) : BigInt(hex)";
    guest.bigint_from_hex = JS_Eval(ctx, from_hex, strlen(from_hex), "<jscell>", JS_EVAL_TYPE_GLOBAL);
    /* The V8 backends have no `performance`, `atob` or `btoa`; a global only one engine offers
     * is one a script could come to rely on. (QuickJS's own DOMException goes with them: the web
     * globals install ours.) */
    static const char *const absent[] = { "performance", "atob", "btoa" };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        JSAtom name = JS_NewAtom(ctx, absent[i]);
        JS_DeleteProperty(ctx, global, name, 0);
        JS_FreeAtom(ctx, name);
    }
    JS_FreeValue(ctx, json);
    JS_FreeValue(ctx, prototype);
    JS_FreeValue(ctx, bigint);
    JS_FreeValue(ctx, global);
    install_host_calls(ctx);
    install_timers(ctx);
    return JS_IsException(guest.bigint_from_hex) ? OUTCOME_INVALID : OUTCOME_VALUE;
}

/* This instance's own settings; called once, before any request. */
EXPORT("jscell_configure") void jscell_configure(uint64_t seed, uint64_t heap_limit, uint32_t max_depth, uint32_t max_bytes,
                                                 uint32_t console)
{
    jscell_reseed(guest.ctx, seed);
    guest.heap_limit = (size_t)(heap_limit > SIZE_MAX ? SIZE_MAX : heap_limit);
    guest.limits = (Limits){ max_depth, max_bytes };
    install_console(guest.ctx, console != 0);
}

/* Short scripts evaluated again are not compiled again, as V8 caches its compilations: for a
 * small script compiling is most of the cost. Keyed by the whole source text. */
#define SCRIPT_CACHE_ENTRIES 32
#define SCRIPT_CACHE_MAX_SOURCE 4096

typedef struct CachedScript {
    char *source; /* NULL when the entry is free */
    uint32_t length;
    JSValue bytecode;
} CachedScript;

static CachedScript scripts[SCRIPT_CACHE_ENTRIES];
static uint32_t next_script;

static CachedScript *cached_script(const char *source, uint32_t length)
{
    for (uint32_t i = 0; i < SCRIPT_CACHE_ENTRIES; i++)
        if (scripts[i].source && scripts[i].length == length && memcmp(scripts[i].source, source, length) == 0)
            return &scripts[i];
    return NULL;
}

static void cache_script(JSContext *ctx, const char *source, uint32_t length, JSValueConst bytecode)
{
    char *copy = malloc(length ? length : 1);
    if (!copy)
        return;
    memcpy(copy, source, length);
    CachedScript *slot = &scripts[next_script++ % SCRIPT_CACHE_ENTRIES];
    if (slot->source) {
        free(slot->source);
        JS_FreeValue(ctx, slot->bytecode);
    }
    *slot = (CachedScript){ copy, length, JS_DupValue(ctx, bytecode) };
}

EXPORT("jscell_eval") int jscell_eval(const char *source, uint32_t length, const char *name, uint32_t name_length)
{
    begin();
    JSContext *ctx = guest.ctx;
    bool cacheable = length <= SCRIPT_CACHE_MAX_SOURCE && name_length == 6 && memcmp(name, "<eval>", 6) == 0;
    CachedScript *cached = cacheable ? cached_script(source, length) : NULL;
    if (cached)
        return outcome_of(ctx, JS_EvalFunction(ctx, JS_DupValue(ctx, cached->bytecode)));
    char file[256];
    size_t cut = name_length < sizeof file - 1 ? name_length : sizeof file - 1;
    memcpy(file, name, cut);
    file[cut] = 0;
    /* JS_Eval reads the NUL the host wrote after the source. */
    JSValue compiled = JS_Eval(ctx, source, length, file, JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(compiled)) {
        locate_compile_error(ctx);
        return outcome_of(ctx, compiled);
    }
    if (cacheable)
        cache_script(ctx, source, length, compiled);
    return outcome_of(ctx, JS_EvalFunction(ctx, compiled));
}

EXPORT("jscell_eval_module") int jscell_eval_module(const char *specifier, uint32_t length)
{
    begin();
    if (memchr(specifier, 0, length)) {
        /* QuickJS names modules by C string: let the host judge the whole specifier. */
        host_resolve(specifier, length, "<eval>", 6);
        size_t answer_length;
        uint8_t *answer = take_answer(&answer_length);
        if (answer && answer_length && answer[0] == ANSWER_ERROR)
            throw_host_error(guest.ctx, answer + 1, answer_length - 1);
        else
            JS_ThrowTypeError(guest.ctx, "a module specifier may not contain a NUL character");
        free(answer);
        return stopped(guest.ctx, &guest.result);
    }
    char *name = malloc((size_t)length + 1);
    if (!name)
        return OUTCOME_HEAP_LIMIT;
    memcpy(name, specifier, length);
    name[length] = 0;
    JSValue promise = JS_LoadModule(guest.ctx, "<eval>", name);
    free(name);
    return outcome_of(guest.ctx, promise);
}

/* Decode u32 count + values into a new array of JSValues; NULL with the exception pending. */
static JSValue *decode_args(JSContext *ctx, const uint8_t *data, uint32_t length, uint32_t *count)
{
    size_t at = 4;
    if (length < 4) {
        JS_ThrowTypeError(ctx, "malformed value from the host");
        return NULL;
    }
    memcpy(count, data, 4);
    if (*count > length) {
        JS_ThrowTypeError(ctx, "malformed value from the host");
        return NULL;
    }
    JSValue *args = malloc(((size_t)*count + 1) * sizeof(JSValue));
    if (!args) {
        JS_ThrowOutOfMemory(ctx);
        return NULL;
    }
    for (uint32_t i = 0; i < *count; i++) {
        args[i] = decode_value(ctx, data, length, &at);
        if (JS_IsException(args[i])) {
            for (uint32_t j = 0; j < i; j++)
                JS_FreeValue(ctx, args[j]);
            free(args);
            return NULL;
        }
    }
    return args;
}

EXPORT("jscell_call") int jscell_call(uint64_t handle, const uint8_t *data, uint32_t length)
{
    begin();
    JSContext *ctx = guest.ctx;
    JSValue function = kept_function(ctx, handle);
    if (JS_IsException(function)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        return invalid("this JsFunction was closed; it can no longer be called");
    }
    uint32_t count;
    JSValue *args = decode_args(ctx, data, length, &count);
    if (!args) {
        JS_FreeValue(ctx, function);
        return stopped(ctx, &guest.result);
    }
    JSValue result = JS_Call(ctx, function, JS_UNDEFINED, (int)count, args);
    for (uint32_t i = 0; i < count; i++)
        JS_FreeValue(ctx, args[i]);
    free(args);
    JS_FreeValue(ctx, function);
    return outcome_of(ctx, result);
}

static int kept_index(uint32_t id)
{
    for (uint32_t i = 0; i < kept_count; i++)
        if (kept[i].id == id)
            return (int)i;
    return -1;
}

/* The outcome of kept promise `id` once it settled (and it is forgotten); PENDING until then. */
EXPORT("jscell_settle") int jscell_settle(uint32_t id)
{
    begin();
    int index = kept_index(id);
    if (index < 0)
        return invalid("no such pending promise");
    JSContext *ctx = guest.ctx;
    if (JS_PromiseState(ctx, kept[index].promise) == JS_PROMISE_PENDING) {
        buffer_u32(&guest.result, id);
        return OUTCOME_PENDING;
    }
    JSValue promise = kept[index].promise;
    kept[index] = kept[--kept_count];
    return settled_outcome(ctx, promise);
}

EXPORT("jscell_forget") void jscell_forget(uint32_t id)
{
    int index = kept_index(id);
    if (index < 0)
        return;
    JSValue promise = kept[index].promise;
    kept[index] = kept[--kept_count];
    JS_FreeValue(guest.ctx, promise);
}

/* An async host call finished: settle its promise and run what that unblocks. */
EXPORT("jscell_complete") int jscell_complete(uint64_t call, uint32_t ok, const uint8_t *data, uint32_t length)
{
    begin();
    if (complete_async_call(guest.ctx, call, ok != 0, data, length))
        drain_jobs(guest.ctx);
    return done();
}

EXPORT("jscell_next_timer") double jscell_next_timer(void) { return next_timer_due(); }

/* Run the earliest timer due now: -1 if none is; else VALUE, or EXCEPTION when its callback
 * threw (nobody waits on it: the host reports it as uncaught), or how it stopped. */
EXPORT("jscell_run_timer") int jscell_run_timer(void)
{
    begin();
    JSContext *ctx = guest.ctx;
    JSValue result;
    if (!run_one_timer(ctx, &result))
        return -1;
    if (JS_IsException(result))
        return stopped(ctx, &guest.result);
    JS_FreeValue(ctx, result);
    drain_jobs(ctx);
    return done();
}

EXPORT("jscell_release") void jscell_release(uint64_t handle) { release_function(guest.ctx, handle); }

EXPORT("jscell_set_global") int jscell_set_global(const char *name, uint32_t name_length, const uint8_t *data,
                                                  uint32_t length)
{
    begin();
    JSContext *ctx = guest.ctx;
    size_t at = 0;
    JSValue value = decode_value(ctx, data, length, &at);
    if (JS_IsException(value))
        return stopped(ctx, &guest.result);
    JSAtom key = JS_NewAtomLen(ctx, name, name_length);
    JSValue global = JS_GetGlobalObject(ctx);
    int status = key == JS_ATOM_NULL ? -1 : JS_SetProperty(ctx, global, key, value);
    if (key == JS_ATOM_NULL)
        JS_FreeValue(ctx, value);
    JS_FreeAtom(ctx, key);
    JS_FreeValue(ctx, global);
    if (status < 0)
        return stopped(ctx, &guest.result);
    return done();
}

/* Counters for get_stats(): u64 heap used, u64 heap limit, u32 async calls, u32 timeouts,
 * u32 intervals, u64 sync host calls, u64 async host calls. */
EXPORT("jscell_stats") void jscell_stats(void)
{
    uint32_t timeouts, intervals;
    timer_counts(&timeouts, &intervals);
    buffer_clear(&guest.result);
    buffer_u64(&guest.result, guest.heap_used);
    buffer_u64(&guest.result, guest.heap_limit);
    buffer_u32(&guest.result, async_calls_in_flight());
    buffer_u32(&guest.result, timeouts);
    buffer_u32(&guest.result, intervals);
    buffer_u64(&guest.result, guest.host_calls_sync);
    buffer_u64(&guest.result, guest.host_calls_async);
}

/* Whether anything could still settle a promise: async calls in flight or timers set. */
EXPORT("jscell_busy") uint32_t jscell_busy(void)
{
    uint32_t timeouts, intervals;
    timer_counts(&timeouts, &intervals);
    return async_calls_in_flight() + timeouts + intervals > 0;
}
