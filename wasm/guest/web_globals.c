/* The web platform globals (web/src/lib.rs): installed once at boot, so every instance made
 * from the memory image has them already, with the bridge between host streams and
 * `ReadableStream`s kept here, out of JavaScript's reach. */

#include <string.h>

#include "abi.h"
#include "engine_access.h"
#include "guest.h"

static JSValue from_host = JS_UNDEFINED;
static JSValue to_host = JS_UNDEFINED;
static JSValue stream_of = JS_UNDEFINED;
static JSValue readable_prototype = JS_UNDEFINED;

static bool take_function(JSContext *ctx, JSValueConst bridge, const char *name, JSValue *into)
{
    *into = JS_GetPropertyStr(ctx, bridge, name);
    return JS_IsObject(*into);
}

/* Run the install script (NUL-terminated, as JS_Eval wants) on the global object. */
EXPORT("jscell_install_web") int jscell_install_web(const char *script, uint32_t length)
{
    JSContext *ctx = guest.ctx;
    JSValue install = JS_Eval(ctx, script, length, "jscell:web", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(install))
        return OUTCOME_EXCEPTION;
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue bridge = JS_Call(ctx, install, JS_UNDEFINED, 1, (JSValueConst *)&global);
    JS_FreeValue(ctx, global);
    JS_FreeValue(ctx, install);
    if (JS_IsException(bridge))
        return OUTCOME_EXCEPTION;
    bool whole = take_function(ctx, bridge, "fromHost", &from_host) && take_function(ctx, bridge, "toHost", &to_host)
                 && take_function(ctx, bridge, "streamOf", &stream_of)
                 && take_function(ctx, bridge, "readablePrototype", &readable_prototype);
    JS_FreeValue(ctx, bridge);
    return whole ? OUTCOME_VALUE : OUTCOME_INVALID;
}

bool is_stream(JSValueConst value)
{
    return JS_IsObject(readable_prototype) && jscell_inherits_from(value, readable_prototype);
}

JSValue stream_to_host(JSContext *ctx, JSValueConst stream)
{
    return JS_Call(ctx, to_host, JS_UNDEFINED, 1, &stream);
}

JSValue stream_of_reader(JSContext *ctx, JSValue read)
{
    if (JS_IsException(read))
        return read;
    JSValue stream = JS_Call(ctx, stream_of, JS_UNDEFINED, 1, (JSValueConst *)&read);
    JS_FreeValue(ctx, read);
    return stream;
}

JSValue stream_from_host(JSContext *ctx, JSValue source, uint32_t high_water_mark)
{
    if (JS_IsException(source))
        return source;
    JSValue args[2] = { source, JS_NewUint32(ctx, high_water_mark) };
    JSValue stream = JS_Call(ctx, from_host, JS_UNDEFINED, 2, (JSValueConst *)args);
    JS_FreeValue(ctx, source);
    return stream;
}
