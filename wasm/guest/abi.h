/* The guest's side of the boundary with the host (wasm/src/abi.rs is the other side; the two
 * must agree on every number here). The guest imports only the "jscell" functions below: the
 * capability host's grants, module resolution and loading, console, and a clock. */
#ifndef JSCELL_ABI_H
#define JSCELL_ABI_H

#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("jscell"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

/* Value encoding, little-endian, one tag byte per node:
 *   UNDEFINED NULL FALSE TRUE
 *   NUMBER f64 | DATE f64 | BIGINT u8 negative, u32 n, n hex digits (magnitude)
 *   STRING u32 n, n bytes UTF-8 | BYTES u32 n, n bytes
 *   ARRAY/SET u32 n, n values | OBJECT u32 n, n × (u32 k, k bytes key, value)
 *   MAP u32 n, n × (key value, value) | FUNCTION u64 handle | HOST_FUNCTION u32 id, u8 async
 *   STREAM u64 handle (of the function reading it) | HOST_STREAM u32 id, u32 high-water mark */
enum {
    TAG_UNDEFINED = 0,
    TAG_NULL = 1,
    TAG_FALSE = 2,
    TAG_TRUE = 3,
    TAG_NUMBER = 4,
    TAG_BIGINT = 5,
    TAG_STRING = 6,
    TAG_BYTES = 7,
    TAG_ARRAY = 8,
    TAG_OBJECT = 9,
    TAG_SET = 10,
    TAG_MAP = 11,
    TAG_DATE = 12,
    TAG_FUNCTION = 13,
    TAG_HOST_FUNCTION = 14,
    TAG_STREAM = 15,
    TAG_HOST_STREAM = 16,
};

/* What an export that runs JS left in the result buffer. */
enum {
    OUTCOME_VALUE = 0,       /* an encoded value */
    OUTCOME_EXCEPTION = 1,   /* u32+name, u32+message, u8 has_stack, [u32+stack] */
    OUTCOME_PENDING = 2,     /* u32 id of a promise kept until it settles (jscell_settle) */
    OUTCOME_CONVERSION = 3,  /* u8 kind (CONVERSION_*), [u32+text for UNSUPPORTED] */
    OUTCOME_INTERRUPTED = 4, /* the host's interrupt check said stop */
    OUTCOME_HEAP_LIMIT = 5,  /* the heap limit was reached: the instance is done */
    OUTCOME_INVALID = 6,     /* u32+text: the request itself was wrong (unknown handle) */
};

enum {
    CONVERSION_CYCLE = 0,
    CONVERSION_TOO_DEEP = 1,
    CONVERSION_TOO_LARGE = 2,
    CONVERSION_UNSUPPORTED = 3,
};

/* A host error (a failed grant, resolve or load): u8 kind, u32+message. */
enum { HOST_ERROR = 0, HOST_TYPE_ERROR = 1, HOST_RANGE_ERROR = 2 };

/* What a load asks for. */
enum { MODULE_JAVASCRIPT = 0, MODULE_JSON = 1 };

/* Each host call leaves its answer in the host's answer slot; the guest copies it out. */
enum { ANSWER_OK = 0, ANSWER_ERROR = 1 };

IMPORT("call") int32_t host_call(uint32_t grant, const uint8_t *args, uint32_t length);
IMPORT("call_async") int32_t host_call_async(uint32_t grant, uint64_t call, const uint8_t *args, uint32_t length);
IMPORT("resolve") int32_t host_resolve(const char *specifier, uint32_t specifier_length, const char *referrer,
                                       uint32_t referrer_length);
IMPORT("load") int32_t host_load(const char *url, uint32_t length, uint32_t kind);
IMPORT("answer_length") uint32_t host_answer_length(void);
IMPORT("take_answer") void host_take_answer(uint8_t *into);
IMPORT("console") void host_console(uint32_t level, const char *text, uint32_t length);
IMPORT("uncaught") void host_uncaught(const uint8_t *exception, uint32_t length);
IMPORT("release_grant") void host_release_grant(uint32_t grant);
IMPORT("interrupted") int32_t host_interrupted(void);
IMPORT("monotonic_ms") double host_monotonic_ms(void);

#endif
