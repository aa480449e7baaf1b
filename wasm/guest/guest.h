/* What the guest's files share: the one runtime this instance runs, its limits, and the
 * helpers each file offers the others. */
#ifndef JSCELL_GUEST_H
#define JSCELL_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quickjs.h"

/* A growable byte buffer. Allocation failures leave `failed` set; writers check once. */
typedef struct Buffer {
    uint8_t *data;
    size_t length;
    size_t capacity;
    bool failed;
} Buffer;

void buffer_reserve(Buffer *b, size_t more);
void buffer_put(Buffer *b, const void *data, size_t length);
void buffer_u8(Buffer *b, uint8_t value);
void buffer_u32(Buffer *b, uint32_t value);
void buffer_u64(Buffer *b, uint64_t value);
void buffer_f64(Buffer *b, double value);
void buffer_text(Buffer *b, const char *text, size_t length);
void buffer_clear(Buffer *b);
void buffer_release(Buffer *b);

typedef struct Limits {
    uint32_t max_depth;
    uint32_t max_bytes;
} Limits;

typedef struct Guest {
    JSRuntime *rt;
    JSContext *ctx;
    Limits limits;
    /* The answer of the last export, read by the host (jscell_result_*). */
    Buffer result;
    /* Saved at boot, before any user code could replace them. */
    JSValue bigint_from_hex;
    JSValue bigint_to_hex;
    JSValue json_stringify;
    JSClassID grant_class;
    /* Heap accounting (memory.c): once the limit was reached the instance is done. */
    size_t heap_used;
    size_t heap_limit;
    bool heap_exhausted;
    /* The interrupt handler stopped JS (the host said so, or the heap is exhausted). */
    bool interrupted;
    uint64_t host_calls_sync;
    uint64_t host_calls_async;
} Guest;

extern Guest guest;

/* codec.c: values across the boundary. `encode_value` fills `out`; on failure it returns
 * false with the conversion error (CONVERSION_* and text) encoded in `error`, or with `error`
 * empty when JS threw (the exception is pending). */
bool encode_value(JSContext *ctx, JSValueConst value, Buffer *out, Buffer *error, size_t *charged);
/* Decode one value at *at (advanced); JS_EXCEPTION with a pending TypeError on bad input. */
JSValue decode_value(JSContext *ctx, const uint8_t *data, size_t length, size_t *at);
/* The words of a conversion error as the host's ConversionError says them. */
void conversion_text(const Buffer *error, char *into, size_t size);

/* memory.c */
const JSMallocFunctions *heap_functions(void);

/* functions.c: JS functions the host holds by handle. */
uint64_t keep_function(JSContext *ctx, JSValueConst function);
JSValue kept_function(JSContext *ctx, uint64_t handle);
bool release_function(JSContext *ctx, uint64_t handle);

/* host_calls.c: grants, ops and async calls. */
void install_host_calls(JSContext *ctx);
JSValue host_function(JSContext *ctx, uint32_t grant, bool async);
JSValue throw_host_error(JSContext *ctx, const uint8_t *data, size_t length);
JSValue host_error_value(JSContext *ctx, const uint8_t *data, size_t length);
/* Take the host's answer to the import just called (malloc'd; *length set). */
uint8_t *take_answer(size_t *length);
uint32_t async_calls_in_flight(void);
/* Settle async call `call` with the host's answer; false if no such call is open. */
bool complete_async_call(JSContext *ctx, uint64_t call, bool ok, const uint8_t *data, size_t length);

/* timers.c */
void install_timers(JSContext *ctx);
double next_timer_due(void);
/* Run the earliest timer due now: 0 if none is, else 1 with its call's result in *result. */
int run_one_timer(JSContext *ctx, JSValue *result);
void timer_counts(uint32_t *timeouts, uint32_t *intervals);

/* console.c */
void install_console(JSContext *ctx, bool enabled);

/* modules.c */
void install_module_loader(JSRuntime *rt);

/* web_globals.c: the bridge between host streams and ReadableStreams. The constructors take
 * ownership of their JSValue argument (and pass an exception through). */
bool is_stream(JSValueConst value);
JSValue stream_to_host(JSContext *ctx, JSValueConst stream);
JSValue stream_of_reader(JSContext *ctx, JSValue read);
JSValue stream_from_host(JSContext *ctx, JSValue source, uint32_t high_water_mark);

/* runtime.c */
void drain_jobs(JSContext *ctx);
/* A compile error names where it is, in its message too, as on the V8 engine. */
void locate_compile_error(JSContext *ctx);
/* Encode the pending exception as an OUTCOME_EXCEPTION body into `out`. */
void describe_exception(JSContext *ctx, JSValueConst exception, Buffer *out);

#endif
