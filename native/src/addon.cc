// Module init only: the platform file registers what this OS implements.
#include <napi.h>

#include "common/event_bridge.h"
#include "common/live_objects.h"
#include "common/platform.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  exports.Set("platform", Napi::String::New(env, mbam::kPlatformName));
  mbam::RegisterPlatform(env, exports);
  mbam::RegisterEventBridge(env, exports);
  mbam::RegisterLiveObjects(env, exports);
  // Test-only (test/support/loopback.ts); not typed or exported by src/: see loopback.cc.
  mbam::RegisterLoopback(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mbam_vss, Init)
