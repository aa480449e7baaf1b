/* Module loading: every specifier is resolved by the host and every source fetched from it,
 * as on the V8 engine; QuickJS loads a graph synchronously, so each fetch waits in the host. */

#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "guest.h"

/* Copy the host's answer: OK + u32 text (NUL-terminated here), or ERROR + a host error,
 * thrown. NULL on failure with the exception pending. */
static char *answer_text(JSContext *ctx, size_t *text_length)
{
    size_t length;
    uint8_t *answer = take_answer(&length);
    if (!answer) {
        JS_ThrowOutOfMemory(ctx);
        return NULL;
    }
    char *text = NULL;
    uint32_t count = 0;
    if (length >= 1 && answer[0] == ANSWER_ERROR) {
        throw_host_error(ctx, answer + 1, length - 1);
    } else if (length < 5 || answer[0] != ANSWER_OK || (memcpy(&count, answer + 1, 4), count > length - 5)) {
        JS_ThrowTypeError(ctx, "malformed answer from the host");
    } else if (!(text = js_malloc(ctx, (size_t)count + 1))) {
        /* js_malloc threw */
    } else {
        memcpy(text, answer + 5, count);
        text[count] = 0;
        *text_length = count;
    }
    free(answer);
    return text;
}

/* The kind the attributes ask for; -1 with a TypeError pending when they ask for more. */
static int requested_kind(JSContext *ctx, JSValueConst attributes)
{
    if (!JS_IsObject(attributes))
        return MODULE_JAVASCRIPT;
    JSPropertyEnum *keys;
    uint32_t count;
    if (JS_GetOwnPropertyNames(ctx, &keys, &count, attributes, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) < 0)
        return -1;
    int kind = MODULE_JAVASCRIPT;
    for (uint32_t i = 0; i < count && kind >= 0; i++) {
        const char *key = JS_AtomToCString(ctx, keys[i].atom);
        JSValue value = JS_GetProperty(ctx, attributes, keys[i].atom);
        const char *text = JS_IsException(value) ? NULL : JS_ToCString(ctx, value);
        if (!key || !text)
            kind = -1;
        else if (strcmp(key, "type") != 0)
            JS_ThrowTypeError(ctx, "unsupported import attribute '%s'", key), kind = -1;
        else if (strcmp(text, "json") == 0)
            kind = MODULE_JSON;
        else
            JS_ThrowTypeError(ctx, "unsupported module type '%s'", text), kind = -1;
        JS_FreeCString(ctx, key);
        JS_FreeCString(ctx, text);
        JS_FreeValue(ctx, value);
    }
    JS_FreePropertyEnum(ctx, keys, count);
    return kind;
}

static int check_attributes(JSContext *ctx, void *opaque, JSValueConst attributes)
{
    (void)opaque;
    return requested_kind(ctx, attributes) < 0 ? -1 : 0;
}

static char *resolve(JSContext *ctx, const char *referrer, const char *specifier, void *opaque)
{
    (void)opaque;
    host_resolve(specifier, (uint32_t)strlen(specifier), referrer, (uint32_t)strlen(referrer));
    size_t length;
    return answer_text(ctx, &length);
}

static int json_module_init(JSContext *ctx, JSModuleDef *module)
{
    return JS_SetModuleExport(ctx, module, "default", JS_GetModulePrivateValue(ctx, module));
}

static JSModuleDef *load(JSContext *ctx, const char *url, void *opaque, JSValueConst attributes)
{
    (void)opaque;
    int kind = requested_kind(ctx, attributes);
    if (kind < 0)
        return NULL;
    host_load(url, (uint32_t)strlen(url), (uint32_t)kind);
    size_t length;
    char *source = answer_text(ctx, &length);
    if (!source)
        return NULL;
    JSModuleDef *module = NULL;
    if (kind == MODULE_JSON) {
        JSValue value = JS_ParseJSON(ctx, source, length, url);
        if (!JS_IsException(value)) {
            module = JS_NewCModule(ctx, url, json_module_init);
            if (module && JS_AddModuleExport(ctx, module, "default") == 0)
                JS_SetModulePrivateValue(ctx, module, value);
            else
                JS_FreeValue(ctx, value);
        }
    } else {
        JSValue compiled = JS_Eval(ctx, source, length, url, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
        if (JS_IsException(compiled)) {
            locate_compile_error(ctx);
        } else {
            module = JS_VALUE_GET_PTR(compiled);
            JSValue meta = JS_GetImportMeta(ctx, module);
            if (!JS_IsException(meta))
                JS_DefinePropertyValueStr(ctx, meta, "url", JS_NewString(ctx, url), JS_PROP_C_W_E);
            JS_FreeValue(ctx, meta);
            JS_FreeValue(ctx, compiled);
        }
    }
    js_free(ctx, source);
    return module;
}

void install_module_loader(JSRuntime *rt)
{
    JS_SetModuleLoaderFunc2(rt, resolve, load, check_attributes, NULL);
}
