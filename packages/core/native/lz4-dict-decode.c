/*
 * One N-API function that the lz4 package's binding lacks: decoding an LZ4 block whose matches
 * may reach into the 64 KiB that came before it (a frame of linked blocks, as PostgreSQL's
 * server-side lz4 writes). It calls liblz4's bounds-checked LZ4_decompress_safe_usingDict, so
 * corrupt input gives a negative result, never a read or write outside the buffers.
 *
 * decodeBlock(src, dst, dict) -> bytes written to dst, or a negative number if src is not a
 * valid block or does not fit into dst. dict may be null (an independent block).
 */
#include <limits.h>
#include <node_api.h>
/* liblz4 itself, compiled into this addon: its source comes with the lz4 package (binding.gyp). */
#include "lz4.c"

static int buffer_arg(napi_env env, napi_value value, const char *name, void **data, size_t *length) {
  bool ok = false;
  if (napi_is_buffer(env, value, &ok) != napi_ok || !ok || napi_get_buffer_info(env, value, data, length) != napi_ok) {
    napi_throw_type_error(env, NULL, name);
    return 0;
  }
  if (*length > INT_MAX) {
    napi_throw_range_error(env, NULL, name);
    return 0;
  }
  return 1;
}

static napi_value decode_block(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 3) {
    napi_throw_type_error(env, NULL, "decodeBlock takes (src, dst, dict)");
    return NULL;
  }
  void *src, *dst, *dict = NULL;
  size_t src_len, dst_len, dict_len = 0;
  if (!buffer_arg(env, argv[0], "src must be a Buffer under 2 GiB", &src, &src_len)) return NULL;
  if (!buffer_arg(env, argv[1], "dst must be a Buffer under 2 GiB", &dst, &dst_len)) return NULL;
  napi_valuetype type;
  if (napi_typeof(env, argv[2], &type) != napi_ok) return NULL;
  if (type != napi_null && !buffer_arg(env, argv[2], "dict must be a Buffer under 2 GiB or null", &dict, &dict_len)) return NULL;
  int n = LZ4_decompress_safe_usingDict((const char *)src, (char *)dst, (int)src_len, (int)dst_len, (const char *)dict, (int)dict_len);
  napi_value result;
  if (napi_create_int32(env, n, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "decodeBlock", NAPI_AUTO_LENGTH, decode_block, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decodeBlock", fn) != napi_ok) return NULL;
  return exports;
}
