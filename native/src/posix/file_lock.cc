// Advisory whole-file locks (flock). The kernel drops the lock when the holder dies, however it
// dies, so a killed installer never leaves the registry locked.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/errors.h"
#include "posix/posix.h"

namespace mbam {
namespace {

// tryLock(path) -> fd when the exclusive lock was taken, -1 when another process holds it.
// Never blocks: the JavaScript side polls with a deadline so the event loop keeps running.
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "tryLock(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    ErrnoError(env, errno, "open", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return Napi::Number::New(env, -1);
    ErrnoError(env, err, "flock", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "unlock(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  flock(fd, LOCK_UN);
  close(fd);
  return env.Undefined();
}

}  // namespace

void RegisterFileLock(Napi::Env env, Napi::Object exports) {
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
}

}  // namespace mbam
