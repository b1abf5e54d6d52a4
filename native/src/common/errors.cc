#include "common/errors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mbam {

Napi::Error HResultError(Napi::Env env, uint32_t hresult, const std::string& operation) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08X", hresult);
  Napi::Error e = Napi::Error::New(env, operation + " failed with HRESULT " + hex);
  e.Value().Set("hresult", Napi::Number::New(env, static_cast<double>(hresult)));
  e.Value().Set("operation", Napi::String::New(env, operation));
  return e;
}

const char* ErrnoName(int err) {
  switch (err) {
#define MBAM_ERRNO(x) case x: return #x;
    MBAM_ERRNO(EPERM) MBAM_ERRNO(ENOENT) MBAM_ERRNO(EIO) MBAM_ERRNO(EBADF) MBAM_ERRNO(EAGAIN)
    MBAM_ERRNO(ENOMEM) MBAM_ERRNO(EACCES) MBAM_ERRNO(EBUSY) MBAM_ERRNO(EEXIST) MBAM_ERRNO(EXDEV)
    MBAM_ERRNO(ENODEV) MBAM_ERRNO(ENOTDIR) MBAM_ERRNO(EISDIR) MBAM_ERRNO(EINVAL) MBAM_ERRNO(ENOSPC)
    MBAM_ERRNO(EROFS) MBAM_ERRNO(ENOSYS) MBAM_ERRNO(ENOTSUP) MBAM_ERRNO(ETIMEDOUT) MBAM_ERRNO(EINTR)
    MBAM_ERRNO(ENOTTY) MBAM_ERRNO(EFBIG) MBAM_ERRNO(ESRCH) MBAM_ERRNO(ECHILD) MBAM_ERRNO(ELOOP)
#undef MBAM_ERRNO
    default: return nullptr;
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& operation, const std::string& path) {
  const char* name = ErrnoName(err);
  std::string code = name ? name : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, code + ": " + operation + " '" + path + "': " + std::strerror(err));
  e.Value().Set("errno", Napi::Number::New(env, err));
  e.Value().Set("code", Napi::String::New(env, code));
  e.Value().Set("syscall", Napi::String::New(env, operation));
  e.Value().Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace mbam
