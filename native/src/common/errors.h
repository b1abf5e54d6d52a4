#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace mbam {

// Native code never throws C++ exceptions (they are off). Failures cross into JavaScript as plain
// Error objects carrying the raw code; src/platform/native.ts turns them into VssError with the
// name from the one HRESULT table, so no table is duplicated here.

// An Error with .hresult (unsigned 32-bit) and the operation that failed.
Napi::Error HResultError(Napi::Env env, uint32_t hresult, const std::string& operation);

// An Error with .errno, .code (the errno name, e.g. "EBUSY") and .path.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& operation, const std::string& path);

// The symbolic name of an errno value ("EPERM"), or "E<number>" when unknown.
const char* ErrnoName(int err);

}  // namespace mbam
