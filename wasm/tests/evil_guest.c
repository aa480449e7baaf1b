/* A test-only guest that has been "compromised": it exports what the real guest exports and
 * answers each eval with one thing an honest guest never does, named by the source text. The
 * host must turn every one into a clear error for that runtime alone (tests/evil_guest.rs). */

#include <stdint.h>
#include <string.h>

#include "../guest/abi.h"

static uint8_t heap[1 << 20];
static uint32_t heap_used;
static uint8_t result[64];
static uint32_t result_length;
static const uint8_t *result_at = result;
static int bad_alloc;

EXPORT("jscell_alloc") void *jscell_alloc(uint32_t size)
{
    if (bad_alloc)
        return (void *)(uintptr_t)0xfffffff0u;
    if (heap_used + size > sizeof heap)
        heap_used = 0;
    void *block = heap + heap_used;
    heap_used += (size + 7) & ~7u;
    return block;
}

EXPORT("jscell_free") void jscell_free(void *block) { (void)block; }
EXPORT("jscell_result_ptr") const uint8_t *jscell_result_ptr(void) { return result_at; }
EXPORT("jscell_result_len") uint32_t jscell_result_len(void) { return result_length; }
EXPORT("jscell_configure") void jscell_configure(uint64_t seed, uint64_t heap_limit, uint32_t depth, uint32_t bytes, uint32_t console) {}

static int answer(const void *bytes, uint32_t length, int outcome)
{
    memcpy(result, bytes, length);
    result_length = length;
    return outcome;
}

static int is(const char *source, uint32_t length, const char *name)
{
    return strlen(name) == length && memcmp(source, name, length) == 0;
}

/* A value nested far deeper than any limit: the same bytes, read again and again. */
static uint8_t deep[1 << 19];

EXPORT("jscell_eval") int jscell_eval(const char *source, uint32_t length, const char *name, uint32_t name_length)
{
    result_at = result;
    if (is(source, length, "result outside memory")) {
        result_at = (const uint8_t *)(uintptr_t)0xffffff00u;
        result_length = 0x1000;
        return OUTCOME_VALUE;
    }
    if (is(source, length, "string length past the end")) {
        static const uint8_t bytes[] = { TAG_STRING, 0xff, 0xff, 0xff, 0x7f, 'x' };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "array count bomb")) {
        static const uint8_t bytes[] = { TAG_ARRAY, 0xff, 0xff, 0xff, 0xff, TAG_NULL };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "nested past the depth limit")) {
        for (uint32_t i = 0; i + 5 <= sizeof deep; i += 5) {
            deep[i] = TAG_ARRAY;
            deep[i + 1] = 1;
        }
        result_at = deep;
        result_length = sizeof deep;
        return OUTCOME_VALUE;
    }
    if (is(source, length, "text that is not UTF-8")) {
        static const uint8_t bytes[] = { TAG_STRING, 2, 0, 0, 0, 0xc3, 0x28 };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "unknown tag")) {
        static const uint8_t bytes[] = { 0xee };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "stray bytes")) {
        static const uint8_t bytes[] = { TAG_NULL, TAG_NULL };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "unknown outcome"))
        return answer("", 0, 99);
    if (is(source, length, "pending without an id"))
        return answer("x", 1, OUTCOME_PENDING);
    if (is(source, length, "truncated exception")) {
        static const uint8_t bytes[] = { 200, 0, 0, 0, 'E' };
        return answer(bytes, sizeof bytes, OUTCOME_EXCEPTION);
    }
    if (is(source, length, "host call arguments outside memory")) {
        host_call(1, (const uint8_t *)(uintptr_t)0xffffff00u, 0x1000);
        return answer("", 0, OUTCOME_VALUE);
    }
    if (is(source, length, "host call argument garbage")) {
        static const uint8_t bytes[] = { 1, 0, 0, 0, TAG_MAP, 0xff, 0xff, 0xff, 0x0f };
        host_call(1, bytes, sizeof bytes);
        return answer("", 0, OUTCOME_VALUE);
    }
    if (is(source, length, "answer written outside memory")) {
        host_resolve("x", 1, "<eval>", 6);
        host_take_answer((uint8_t *)(uintptr_t)0xfffffff0u);
        return answer("", 0, OUTCOME_VALUE);
    }
    if (is(source, length, "console text outside memory")) {
        host_console(2, (const char *)(uintptr_t)0xffffff00u, 0x1000);
        return answer("", 0, OUTCOME_VALUE);
    }
    if (is(source, length, "module kind that does not exist")) {
        host_load("x", 1, 7);
        return answer("", 0, OUTCOME_VALUE);
    }
    if (is(source, length, "allocator out of bounds")) {
        bad_alloc = 1;
        static const uint8_t bytes[] = { TAG_UNDEFINED };
        return answer(bytes, sizeof bytes, OUTCOME_VALUE);
    }
    if (is(source, length, "trap"))
        __builtin_trap();
    if (is(source, length, "spin without an interrupt check"))
        for (volatile int forever = 1; forever;)
            ;
    static const uint8_t fine[] = { TAG_TRUE };
    return answer(fine, sizeof fine, OUTCOME_VALUE);
}

EXPORT("jscell_eval_module") int jscell_eval_module(const char *specifier, uint32_t length) { return answer("", 0, 99); }
EXPORT("jscell_call") int jscell_call(uint64_t handle, const uint8_t *data, uint32_t length) { return answer("", 0, 99); }
EXPORT("jscell_settle") int jscell_settle(uint32_t id) { return answer("", 0, 99); }
EXPORT("jscell_forget") void jscell_forget(uint32_t id) {}
EXPORT("jscell_complete") int jscell_complete(uint64_t call, uint32_t ok, const uint8_t *data, uint32_t length) { return answer("", 0, 99); }
EXPORT("jscell_next_timer") double jscell_next_timer(void) { return -1; }
EXPORT("jscell_run_timer") int jscell_run_timer(void) { return -1; }
EXPORT("jscell_release") void jscell_release(uint64_t handle) {}
EXPORT("jscell_set_global") int jscell_set_global(const char *name, uint32_t name_length, const uint8_t *data, uint32_t length) { return answer("", 0, 99); }
EXPORT("jscell_stats") void jscell_stats(void) { result_length = 0; }
EXPORT("jscell_busy") uint32_t jscell_busy(void) { return 0; }
