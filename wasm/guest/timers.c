/* setTimeout / setInterval, on the host's monotonic clock. Timers fire only when the host runs
 * them (jscell_run_timer), which it does while a caller waits, so every line of JS runs under
 * some caller's timeout, as on the V8 engine. */

#include <stdlib.h>

#include "abi.h"
#include "guest.h"

/* Browsers cap delays at a signed 32-bit count of milliseconds. */
#define MAX_DELAY_MS 2147483647.0

typedef struct Timer {
    uint32_t id;
    double due;
    double interval; /* < 0 for a timeout */
    JSValue callback;
    JSValue *args;
    int argc;
} Timer;

static Timer *timers;
static uint32_t timer_count;
static uint32_t timer_capacity;
static uint32_t next_id;

static double delay_of(JSContext *ctx, int argc, JSValueConst *argv)
{
    double ms = 0;
    if (argc > 1 && JS_ToFloat64(ctx, &ms, argv[1]) < 0) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        ms = 0;
    }
    if (ms != ms || ms < 0)
        return 0;
    return ms > MAX_DELAY_MS ? MAX_DELAY_MS : ms;
}

static JSValue schedule(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int repeat)
{
    (void)this_val;
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "the timer callback must be a function");
    double delay = delay_of(ctx, argc, argv);
    if (timer_count == timer_capacity) {
        uint32_t capacity = timer_capacity ? timer_capacity * 2 : 16;
        Timer *grown = realloc(timers, capacity * sizeof(Timer));
        if (!grown)
            return JS_ThrowOutOfMemory(ctx);
        timers = grown;
        timer_capacity = capacity;
    }
    int extra = argc > 2 ? argc - 2 : 0;
    JSValue *args = extra ? malloc(extra * sizeof(JSValue)) : NULL;
    if (extra && !args)
        return JS_ThrowOutOfMemory(ctx);
    for (int i = 0; i < extra; i++)
        args[i] = JS_DupValue(ctx, argv[i + 2]);
    next_id = next_id == UINT32_MAX ? 1 : next_id + 1;
    timers[timer_count++] = (Timer){
        next_id, host_monotonic_ms() + delay, repeat ? delay : -1, JS_DupValue(ctx, argv[0]), args, extra,
    };
    return JS_NewUint32(ctx, next_id);
}

static void free_timer(JSContext *ctx, Timer *timer)
{
    JS_FreeValue(ctx, timer->callback);
    for (int i = 0; i < timer->argc; i++)
        JS_FreeValue(ctx, timer->args[i]);
    free(timer->args);
}

static int index_of(uint32_t id)
{
    for (uint32_t i = 0; i < timer_count; i++)
        if (timers[i].id == id)
            return (int)i;
    return -1;
}

static JSValue clear_timer(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    double id;
    if (argc < 1 || !JS_IsNumber(argv[0]) || JS_ToFloat64(ctx, &id, argv[0]) < 0)
        return JS_UNDEFINED;
    if (id != (double)(uint32_t)id || id < 1)
        return JS_UNDEFINED;
    int index = index_of((uint32_t)id);
    if (index >= 0) {
        Timer timer = timers[index];
        timers[index] = timers[--timer_count];
        free_timer(ctx, &timer);
    }
    return JS_UNDEFINED;
}

static JSValue queue_microtask_job(JSContext *ctx, int argc, JSValueConst *argv)
{
    (void)argc;
    return JS_Call(ctx, argv[0], JS_UNDEFINED, 0, NULL);
}

static JSValue queue_microtask(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    if (argc < 1 || !JS_IsFunction(ctx, argv[0]))
        return JS_ThrowTypeError(ctx, "queueMicrotask expects a function");
    if (JS_EnqueueJob(ctx, queue_microtask_job, 1, argv) < 0)
        return JS_EXCEPTION;
    return JS_UNDEFINED;
}

double next_timer_due(void)
{
    double due = -1;
    for (uint32_t i = 0; i < timer_count; i++)
        if (due < 0 || timers[i].due < due)
            due = timers[i].due;
    return due;
}

/* The earliest timer due by `now`, or -1. Ties go to the one scheduled first (lower id). */
static int earliest_due(double now)
{
    int best = -1;
    for (uint32_t i = 0; i < timer_count; i++) {
        if (timers[i].due > now)
            continue;
        if (best < 0 || timers[i].due < timers[best].due ||
            (timers[i].due == timers[best].due && timers[i].id < timers[best].id))
            best = (int)i;
    }
    return best;
}

int run_one_timer(JSContext *ctx, JSValue *result)
{
    int index = earliest_due(host_monotonic_ms());
    if (index < 0)
        return 0;
    Timer timer = timers[index];
    uint32_t id = timer.id;
    JSValue callback = JS_DupValue(ctx, timer.callback);
    JSValue *args = malloc((timer.argc ? timer.argc : 1) * sizeof(JSValue));
    for (int i = 0; args && i < timer.argc; i++)
        args[i] = JS_DupValue(ctx, timer.args[i]);
    if (timer.interval < 0) {
        timers[index] = timers[--timer_count];
        free_timer(ctx, &timer);
    } else {
        timers[index].due = 1e300; /* not due again until rescheduled below */
    }
    *result = args ? JS_Call(ctx, callback, JS_UNDEFINED, timer.argc, args) : JS_ThrowOutOfMemory(ctx);
    JS_FreeValue(ctx, callback);
    for (int i = 0; args && i < timer.argc; i++)
        JS_FreeValue(ctx, args[i]);
    free(args);
    int still = index_of(id);
    if (still >= 0 && timers[still].interval >= 0)
        timers[still].due = host_monotonic_ms() + timers[still].interval;
    return 1;
}

void timer_counts(uint32_t *timeouts, uint32_t *intervals)
{
    *timeouts = *intervals = 0;
    for (uint32_t i = 0; i < timer_count; i++)
        (timers[i].interval < 0 ? (*timeouts)++ : (*intervals)++);
}

void install_timers(JSContext *ctx)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "setTimeout", JS_NewCFunctionMagic(ctx, schedule, "setTimeout", 2, JS_CFUNC_generic_magic, 0));
    JS_SetPropertyStr(ctx, global, "setInterval", JS_NewCFunctionMagic(ctx, schedule, "setInterval", 2, JS_CFUNC_generic_magic, 1));
    JS_SetPropertyStr(ctx, global, "clearTimeout", JS_NewCFunction(ctx, clear_timer, "clearTimeout", 1));
    JS_SetPropertyStr(ctx, global, "clearInterval", JS_NewCFunction(ctx, clear_timer, "clearInterval", 1));
    JS_SetPropertyStr(ctx, global, "queueMicrotask", JS_NewCFunction(ctx, queue_microtask, "queueMicrotask", 1));
    JS_FreeValue(ctx, global);
}
