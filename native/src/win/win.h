#pragma once
#include <napi.h>

namespace mbam {
namespace win {

// Each part of the Windows backend registers its own exports.
void RegisterExpressWriterExports(Napi::Env env, Napi::Object exports);
void RegisterRequesterExports(Napi::Env env, Napi::Object exports);
void RegisterSystemExports(Napi::Env env, Napi::Object exports);
void RegisterHostedWriterExports(Napi::Env env, Napi::Object exports);
void RegisterServiceExports(Napi::Env env, Napi::Object exports);

}  // namespace win
}  // namespace mbam
