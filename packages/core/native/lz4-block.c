/*
 * liblz4's block functions for @pgfleet/core's lz4 frames (src/archive/lz4-block.ts), as one
 * small N-API addon: no npm package exposes the dictionary decoder that a frame of linked
 * blocks needs (PostgreSQL's server-side lz4 writes those), and loading the lz4 package's
 * JavaScript for its compressor cost every process that compresses one WAL file 15 ms.
 *
 * encodeBound(n) -> the largest compressed size of n input bytes.
 * encodeBlock(src, dst) -> compressed size (LZ4_compress_default), 0 if dst is too small.
 * decodeBlock(src, dst, dict) -> bytes written to dst, or a negative number if src is not a
 * valid block or does not fit into dst; dict (the 64 KiB before the block, or null) through
 * the bounds-checked LZ4_decompress_safe_usingDict, so corrupt input never makes it read or
 * write outside the buffers.
 * alignmentOffset(buf, alignment) -> how many bytes into buf the first address that is a
 * multiple of alignment (a power of two) lies: O_DIRECT writes need aligned memory, and
 * JavaScript cannot see where a Buffer's bytes are (direct-io.ts).
 */
#include <limits.h>
#include <stdint.h>
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

/* Exactly n arguments into argv, else a TypeError naming the call's arguments. */
static int exact_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc != n) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/* The source and destination Buffers every block call starts with. */
static int src_dst_args(napi_env env, napi_value *argv, void **src, size_t *src_len, void **dst, size_t *dst_len) {
  return buffer_arg(env, argv[0], "src must be a Buffer under 2 GiB", src, src_len) &&
         buffer_arg(env, argv[1], "dst must be a Buffer under 2 GiB", dst, dst_len);
}

static napi_value int32_result(napi_env env, int n) {
  napi_value result;
  return napi_create_int32(env, n, &result) == napi_ok ? result : NULL;
}

static napi_value decode_block(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  void *src, *dst, *dict = NULL;
  size_t src_len, dst_len, dict_len = 0;
  if (!exact_args(env, info, 3, argv, "decodeBlock takes (src, dst, dict)")) return NULL;
  if (!src_dst_args(env, argv, &src, &src_len, &dst, &dst_len)) return NULL;
  napi_valuetype type;
  if (napi_typeof(env, argv[2], &type) != napi_ok) return NULL;
  if (type != napi_null && !buffer_arg(env, argv[2], "dict must be a Buffer under 2 GiB or null", &dict, &dict_len)) return NULL;
  return int32_result(env, LZ4_decompress_safe_usingDict((const char *)src, (char *)dst, (int)src_len, (int)dst_len, (const char *)dict, (int)dict_len));
}

static napi_value encode_block(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *src, *dst;
  size_t src_len, dst_len;
  if (!exact_args(env, info, 2, argv, "encodeBlock takes (src, dst)")) return NULL;
  if (!src_dst_args(env, argv, &src, &src_len, &dst, &dst_len)) return NULL;
  return int32_result(env, LZ4_compress_default((const char *)src, (char *)dst, (int)src_len, (int)dst_len));
}

static napi_value encode_bound(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t n = -1;
  if (!exact_args(env, info, 1, argv, "encodeBound takes (size)")) return NULL;
  if (napi_get_value_int64(env, argv[0], &n) != napi_ok || n < 0 || n > LZ4_MAX_INPUT_SIZE) {
    napi_throw_range_error(env, NULL, "encodeBound takes a size from 0 to LZ4_MAX_INPUT_SIZE");
    return NULL;
  }
  return int32_result(env, LZ4_compressBound((int)n));
}

static napi_value alignment_offset(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *data;
  size_t length;
  int64_t alignment = 0;
  if (!exact_args(env, info, 2, argv, "alignmentOffset takes (buf, alignment)")) return NULL;
  bool ok = false;
  if (napi_is_buffer(env, argv[0], &ok) != napi_ok || !ok || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "buf must be a Buffer");
    return NULL;
  }
  if (napi_get_value_int64(env, argv[1], &alignment) != napi_ok || alignment <= 0 || alignment > (1 << 20) || (alignment & (alignment - 1)) != 0) {
    napi_throw_range_error(env, NULL, "alignment must be a power of two up to 1 MiB");
    return NULL;
  }
  uintptr_t a = (uintptr_t)alignment;
  return int32_result(env, (int)((a - ((uintptr_t)data & (a - 1))) & (a - 1)));
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

NAPI_MODULE_INIT() {
  if (!export_function(env, exports, "decodeBlock", decode_block) ||
      !export_function(env, exports, "encodeBlock", encode_block) ||
      !export_function(env, exports, "encodeBound", encode_bound) ||
      !export_function(env, exports, "alignmentOffset", alignment_offset)) return NULL;
  return exports;
}
