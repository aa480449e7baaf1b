/* The QuickJS-ng engine itself, compiled in this translation unit so that the few things its
 * public API does not offer can be reached here, in one place, by name. Nothing else in the
 * guest includes engine internals. */

#include "quickjs.c"

#include "engine_access.h"

void jscell_set_stack_budget(JSRuntime *rt, size_t bytes)
{
    /* QuickJS compiles its stack check out under WASI; the shadow stack is ordinary linear
     * memory, so the check works there as anywhere once the limit is set. */
    JS_UpdateStackTop(rt);
    rt->stack_size = bytes;
    rt->stack_limit = rt->stack_top - bytes;
}

void jscell_reseed(JSContext *ctx, uint64_t seed)
{
    /* A memory image is shared by every instance made from it: each gets its own
     * Math.random() sequence. The hash seed stays the image's (chosen from the clock when this
     * process booted it): the maps the image already holds (the web globals' tables) were
     * hashed with it, and a seed only needs to be unknown to the script, not per instance. */
    ctx->random_state = seed ? seed : 1;
}

bool jscell_date_value(JSValueConst value, double *millis)
{
    if (!JS_IsDate(value))
        return false;
    JSObject *p = JS_VALUE_GET_OBJ(value);
    if (JS_VALUE_GET_TAG(p->u.object_data) == JS_TAG_INT)
        *millis = JS_VALUE_GET_INT(p->u.object_data);
    else
        *millis = JS_VALUE_GET_FLOAT64(p->u.object_data);
    return true;
}

bool jscell_bytes_of(JSValueConst value, const uint8_t **data, size_t *length)
{
    JSClassID id = JS_GetClassID(value);
    if (id == JS_CLASS_ARRAY_BUFFER || id == JS_CLASS_SHARED_ARRAY_BUFFER) {
        JSArrayBuffer *abuf = JS_VALUE_GET_OBJ(value)->u.array_buffer;
        *data = abuf->data;
        *length = abuf->detached ? 0 : (size_t)abuf->byte_length;
        return true;
    }
    if (id < JS_CLASS_UINT8C_ARRAY || id > JS_CLASS_DATAVIEW)
        return false;
    JSObject *p = JS_VALUE_GET_OBJ(value);
    JSTypedArray *ta = p->u.typed_array;
    JSArrayBuffer *abuf = ta->buffer->u.array_buffer;
    /* A view of a detached or shrunk buffer has no bytes left, as V8 reports it. */
    if (abuf->detached || (id != JS_CLASS_DATAVIEW && typed_array_is_oob(p))) {
        *data = NULL;
        *length = 0;
        return true;
    }
    size_t length_now = id == JS_CLASS_DATAVIEW ? ta->length : typed_array_length(p) << typed_array_size_log2(id);
    if (ta->track_rab && id == JS_CLASS_DATAVIEW)
        length_now = (size_t)abuf->byte_length - ta->offset;
    *data = abuf->data + ta->offset;
    *length = length_now;
    return true;
}

bool jscell_is_weak_collection(JSValueConst value)
{
    JSClassID id = JS_GetClassID(value);
    return id == JS_CLASS_WEAKMAP || id == JS_CLASS_WEAKSET || id == JS_CLASS_WEAK_REF;
}

int jscell_collection_entries(JSValueConst value, jscell_entry_fn *each, void *opaque)
{
    JSClassID id = JS_GetClassID(value);
    if (id != JS_CLASS_MAP && id != JS_CLASS_SET)
        return -1;
    JSMapState *s = JS_VALUE_GET_OBJ(value)->u.map_state;
    struct list_head *el;
    /* Encoding runs no JS, so the records cannot change while they are walked. */
    list_for_each(el, &s->records) {
        JSMapRecord *mr = list_entry(el, JSMapRecord, link);
        if (mr->empty)
            continue;
        int status = each(opaque, mr->key, mr->value);
        if (status)
            return status;
    }
    return 0;
}

uint32_t jscell_collection_size(JSValueConst value)
{
    return JS_VALUE_GET_OBJ(value)->u.map_state->record_count;
}

size_t jscell_malloc_size(JSRuntime *rt)
{
    return rt->malloc_state.malloc_size;
}

JSValue jscell_new_collection(JSContext *ctx, bool is_map)
{
    return js_map_constructor(ctx, JS_UNDEFINED, 0, NULL, is_map ? 0 : MAGIC_SET);
}

int jscell_collection_add(JSContext *ctx, JSValueConst collection, JSValue key, JSValue value)
{
    /* The builtin itself, not `Map.prototype.set`, which JS may have replaced. */
    JSValueConst args[2] = { key, value };
    int magic = JS_GetClassID(collection) == JS_CLASS_SET ? MAGIC_SET : 0;
    JSValue done = js_map_set(ctx, collection, 2, args, magic);
    JS_FreeValue(ctx, key);
    JS_FreeValue(ctx, value);
    if (JS_IsException(done))
        return -1;
    JS_FreeValue(ctx, done);
    return 0;
}

bool jscell_inherits_from(JSValueConst value, JSValueConst prototype)
{
    if (!JS_IsObject(value) || !JS_IsObject(prototype))
        return false;
    const JSObject *target = JS_VALUE_GET_OBJ(prototype);
    for (const JSObject *p = JS_VALUE_GET_OBJ(value); p && p->class_id != JS_CLASS_PROXY; p = p->shape->proto) {
        if (p != JS_VALUE_GET_OBJ(value) && p == target)
            return true;
    }
    return false;
}
