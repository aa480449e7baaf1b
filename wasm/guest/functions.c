/* JS functions handed to the host (a `JsFunction` in Python): kept alive here by handle until
 * the host releases them. A handle is slot + generation, so a stale one never reaches a
 * function that reused its slot. */

#include <stdlib.h>

#include "guest.h"

typedef struct Slot {
    JSValue function; /* JS_UNDEFINED when free */
    uint32_t generation;
} Slot;

static Slot *slots;
static uint32_t slot_count;
static uint32_t *free_slots;
static uint32_t free_count;

uint64_t keep_function(JSContext *ctx, JSValueConst function)
{
    uint32_t index;
    if (free_count) {
        index = free_slots[--free_count];
    } else {
        Slot *grown = realloc(slots, ((size_t)slot_count + 1) * sizeof(Slot));
        uint32_t *grown_free = realloc(free_slots, ((size_t)slot_count + 1) * sizeof(uint32_t));
        if (grown)
            slots = grown;
        if (grown_free)
            free_slots = grown_free;
        if (!grown || !grown_free)
            return 0;
        index = slot_count++;
        slots[index].generation = 0;
    }
    slots[index].function = JS_DupValue(ctx, function);
    return ((uint64_t)slots[index].generation << 32) | (index + 1);
}

static Slot *slot_of(uint64_t handle)
{
    uint32_t index = (uint32_t)handle - 1;
    if ((uint32_t)handle == 0 || index >= slot_count)
        return NULL;
    Slot *slot = &slots[index];
    if (slot->generation != (uint32_t)(handle >> 32) || JS_IsUndefined(slot->function))
        return NULL;
    return slot;
}

JSValue kept_function(JSContext *ctx, uint64_t handle)
{
    Slot *slot = slot_of(handle);
    if (!slot)
        return JS_ThrowTypeError(ctx, "this JsFunction was closed; it can no longer be called");
    return JS_DupValue(ctx, slot->function);
}

bool release_function(JSContext *ctx, uint64_t handle)
{
    Slot *slot = slot_of(handle);
    if (!slot)
        return false;
    JSValue function = slot->function;
    slot->function = JS_UNDEFINED;
    slot->generation++;
    free_slots[free_count++] = (uint32_t)(slot - slots);
    JS_FreeValue(ctx, function);
    return true;
}
