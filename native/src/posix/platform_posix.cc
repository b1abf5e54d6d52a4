// POSIX backend: what this kernel offers for snapshots. The primitives themselves (freeze guard,
// btrfs snapshot, reflink) live beside this file as they are added.
#include <napi.h>
#include <unistd.h>

#include "common/platform.h"
#include "posix/posix.h"

namespace mbam {

#if defined(__linux__)
const char* const kPlatformName = "linux";
#elif defined(__APPLE__)
const char* const kPlatformName = "darwin";
#else
const char* const kPlatformName = "posix";
#endif

namespace {

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object caps = Napi::Object::New(env);
#if defined(__linux__)
  const bool linux_kernel = true;
#else
  const bool linux_kernel = false;
#endif
  // FIFREEZE/FITHAW, FICLONE and the btrfs snapshot ioctl need CAP_SYS_ADMIN (in practice root).
  caps.Set("privileged", Napi::Boolean::New(env, geteuid() == 0));
  caps.Set("fsFreeze", Napi::Boolean::New(env, linux_kernel));
  caps.Set("reflink", Napi::Boolean::New(env, linux_kernel));
  caps.Set("btrfsSnapshot", Napi::Boolean::New(env, linux_kernel));
  caps.Set("expressWriter", Napi::Boolean::New(env, false));
  caps.Set("wine", Napi::Boolean::New(env, false));
  return caps;
}

}  // namespace

void RegisterPlatform(Napi::Env env, Napi::Object exports) {
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  RegisterFileLock(env, exports);
  RegisterSafeFs(env, exports);
#if defined(__linux__)
  RegisterFreezeGuard(env, exports);
  RegisterSnapshot(env, exports);
#endif
}

}  // namespace mbam
