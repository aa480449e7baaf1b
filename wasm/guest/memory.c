/* The JS heap's allocator: every QuickJS allocation is counted against max_heap_size. Reaching
 * the limit is sticky, as V8's heap limit is: the allocation fails, the interrupt handler stops
 * whatever JS still runs, and the host retires the instance. */

#include <malloc.h>
#include <stdlib.h>

#include "guest.h"

static bool admit(size_t more)
{
    if (guest.heap_exhausted)
        return false;
    if (guest.heap_limit && guest.heap_used + more > guest.heap_limit) {
        guest.heap_exhausted = true;
        return false;
    }
    return true;
}

static void *counted(void *block)
{
    if (!block)
        guest.heap_exhausted = true; /* linear memory itself is exhausted */
    else
        guest.heap_used += malloc_usable_size(block);
    return block;
}

static void *heap_calloc(void *opaque, size_t count, size_t size)
{
    (void)opaque;
    if (size && count > SIZE_MAX / size)
        return NULL;
    return admit(count * size) ? counted(calloc(count, size)) : NULL;
}

static void *heap_malloc(void *opaque, size_t size)
{
    (void)opaque;
    return admit(size) ? counted(malloc(size)) : NULL;
}

static void heap_free(void *opaque, void *block)
{
    (void)opaque;
    if (!block)
        return;
    guest.heap_used -= malloc_usable_size(block);
    free(block);
}

static void *heap_realloc(void *opaque, void *block, size_t size)
{
    (void)opaque;
    if (!block)
        return heap_malloc(opaque, size);
    size_t before = malloc_usable_size(block);
    if (size > before && !admit(size - before))
        return NULL;
    void *moved = realloc(block, size);
    if (!moved) {
        if (size)
            guest.heap_exhausted = true;
        return NULL;
    }
    guest.heap_used = guest.heap_used - before + malloc_usable_size(moved);
    return moved;
}

static size_t heap_usable_size(const void *block)
{
    return malloc_usable_size((void *)block);
}

const JSMallocFunctions *heap_functions(void)
{
    static const JSMallocFunctions functions = {
        heap_calloc, heap_malloc, heap_free, heap_realloc, heap_usable_size,
    };
    return &functions;
}
