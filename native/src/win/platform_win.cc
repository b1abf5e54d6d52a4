// Windows backend: registration of exports. COM work never runs on the JavaScript thread.
#include <napi.h>
#include <windows.h>

#include "common/platform.h"
#include "win/com.h"
#include "win/vss_api.h"
#include "win/win.h"

namespace mbam {

const char* const kPlatformName = "win32";

namespace win {
bool ElevatedForCapabilities();
}

namespace {

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object caps = Napi::Object::New(env);
  win::CreateExpressWriterFn fn = nullptr;
  std::string why;
  const bool express = SUCCEEDED(win::ResolveExpressWriterFactory(&fn, &why));
  caps.Set("privileged", Napi::Boolean::New(env, win::ElevatedForCapabilities()));
  caps.Set("fsFreeze", Napi::Boolean::New(env, false));
  caps.Set("reflink", Napi::Boolean::New(env, false));
  caps.Set("btrfsSnapshot", Napi::Boolean::New(env, false));
  caps.Set("expressWriter", Napi::Boolean::New(env, express));
  caps.Set("expressWriterUnavailableReason", express ? env.Null() : Napi::Value(Napi::String::New(env, why)));
  caps.Set("wine", Napi::Boolean::New(env, win::RunningUnderWine()));
  return caps;
}

}  // namespace

void RegisterPlatform(Napi::Env env, Napi::Object exports) {
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  win::RegisterExpressWriterExports(env, exports);
  win::RegisterRequesterExports(env, exports);
  win::RegisterSystemExports(env, exports);
  win::RegisterHostedWriterExports(env, exports);
  win::RegisterServiceExports(env, exports);
}

}  // namespace mbam
