#pragma once
#include <napi.h>

namespace mbam {

// Each POSIX primitive registers its own exports.
void RegisterFileLock(Napi::Env env, Napi::Object exports);
void RegisterSafeFs(Napi::Env env, Napi::Object exports);
void RegisterFreezeGuard(Napi::Env env, Napi::Object exports);
void RegisterSnapshot(Napi::Env env, Napi::Object exports);

}  // namespace mbam
