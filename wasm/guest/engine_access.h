/* What the guest needs of QuickJS-ng beyond its public API (engine_access.c). */
#ifndef JSCELL_ENGINE_ACCESS_H
#define JSCELL_ENGINE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quickjs.h"

/* Turn QuickJS's stack check back on: at most `bytes` of C stack below the current frame. */
void jscell_set_stack_budget(JSRuntime *rt, size_t bytes);
/* Give this instance its own Math.random() sequence. */
void jscell_reseed(JSContext *ctx, uint64_t seed);
/* The time value of a Date, without running JS (`getTime` may be replaced). */
bool jscell_date_value(JSValueConst value, double *millis);
/* The bytes an ArrayBuffer, typed array or DataView covers; false for anything else. */
bool jscell_bytes_of(JSValueConst value, const uint8_t **data, size_t *length);
bool jscell_is_weak_collection(JSValueConst value);
/* Each entry of a Map (key, value) or Set (key, undefined), in insertion order, without
 * running JS; stops at the first non-zero status and returns it; -1 if not a Map or Set. */
typedef int jscell_entry_fn(void *opaque, JSValueConst key, JSValueConst value);
int jscell_collection_entries(JSValueConst value, jscell_entry_fn *each, void *opaque);
uint32_t jscell_collection_size(JSValueConst value);
size_t jscell_malloc_size(JSRuntime *rt);
/* A new Map or Set, and adding to it with the builtin (JS may have replaced the methods);
 * `key` and `value` are consumed. */
JSValue jscell_new_collection(JSContext *ctx, bool is_map);
int jscell_collection_add(JSContext *ctx, JSValueConst collection, JSValue key, JSValue value);
/* Whether `prototype` is on `value`'s prototype chain, read without running JS (the walk
 * stops at a proxy rather than asking it). */
bool jscell_inherits_from(JSValueConst value, JSValueConst prototype);

#endif
