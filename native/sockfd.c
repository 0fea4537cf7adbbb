/*
 * dup(2) for Node: sockfd.dup(fd) -> a new descriptor for the same open socket (close-on-exec),
 * or -errno.
 *
 * Why: Node lets a socket read into buffers of the program's choosing (net.Socket's `onread`
 * option) only for sockets it creates from a descriptor, not for the ones a server accepts. The
 * Kafka listener (src/broker/kafka/direct-socket.ts) duplicates an accepted connection's
 * descriptor, lets Node close the original, and wraps the copy with `onread`, so large Produce
 * frames are read straight into pooled buffers instead of 64 KiB allocations that are then copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>

static napi_value dup_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "dup: fd must be a non-negative integer");
    return NULL;
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  napi_value out;
  napi_create_int32(env, copy < 0 ? -errno : copy, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "dup", NAPI_AUTO_LENGTH, dup_fd, NULL, &fn);
  napi_set_named_property(env, exports, "dup", fn);
  return exports;
}
