/* `console.*` (only when the runtime enables it): arguments joined by spaces, objects as JSON,
 * as the V8 engine writes them; the host decides where the line goes. */

#include <string.h>

#include "abi.h"
#include "guest.h"

enum { LEVEL_DEBUG, LEVEL_INFO, LEVEL_LOG, LEVEL_WARN, LEVEL_ERROR };

static JSValue as_text(JSContext *ctx, JSValueConst value)
{
    if (JS_IsObject(value) && !JS_IsFunction(ctx, value) && !JS_IsError(value)) {
        JSValue json = JS_Call(ctx, guest.json_stringify, JS_UNDEFINED, 1, &value);
        if (!JS_IsException(json) && !JS_IsUndefined(json))
            return json;
        if (JS_IsException(json))
            JS_FreeValue(ctx, JS_GetException(ctx));
    }
    return JS_ToString(ctx, value);
}

static JSValue console_write(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int level)
{
    (void)this_val;
    Buffer line = { 0 };
    for (int i = 0; i < argc; i++) {
        JSValue text = as_text(ctx, argv[i]);
        if (JS_IsException(text)) {
            buffer_release(&line);
            return text;
        }
        size_t length;
        const char *chars = JS_ToCStringLen(ctx, &length, text);
        JS_FreeValue(ctx, text);
        if (!chars) {
            buffer_release(&line);
            return JS_EXCEPTION;
        }
        if (i)
            buffer_put(&line, " ", 1);
        buffer_put(&line, chars, length);
        JS_FreeCString(ctx, chars);
    }
    host_console((uint32_t)level, (const char *)line.data, (uint32_t)line.length);
    buffer_release(&line);
    return JS_UNDEFINED;
}

void install_console(JSContext *ctx, bool enabled)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSAtom name = JS_NewAtom(ctx, "console");
    if (enabled) {
        static const char *const levels[] = { "debug", "info", "log", "warn", "error" };
        JSValue console = JS_NewObject(ctx);
        for (int level = LEVEL_DEBUG; level <= LEVEL_ERROR; level++)
            JS_SetPropertyStr(ctx, console, levels[level],
                              JS_NewCFunctionMagic(ctx, console_write, levels[level], 0, JS_CFUNC_generic_magic, level));
        JS_SetProperty(ctx, global, name, console);
    } else {
        JS_DeleteProperty(ctx, global, name, 0);
    }
    JS_FreeAtom(ctx, name);
    JS_FreeValue(ctx, global);
}
