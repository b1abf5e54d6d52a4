#pragma once
#include <napi.h>

namespace mbam {

// "linux", "darwin" or "win32": the same names as Node's process.platform.
extern const char* const kPlatformName;

// Adds this platform's functions to the module's exports. Each platform directory defines it.
void RegisterPlatform(Napi::Env env, Napi::Object exports);

}  // namespace mbam
