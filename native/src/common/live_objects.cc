#include "common/live_objects.h"

#include <atomic>

namespace mbam {

namespace {
std::atomic<int64_t> g_live[static_cast<int>(LiveKind::kCount)];
}  // namespace

void LiveAdd(LiveKind kind, int64_t delta) { g_live[static_cast<int>(kind)].fetch_add(delta, std::memory_order_relaxed); }

void RegisterLiveObjects(Napi::Env env, Napi::Object exports) {
  exports.Set("liveObjects", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    const auto n = [](LiveKind k) { return static_cast<double>(g_live[static_cast<int>(k)].load()); };
    o.Set("bridges", n(LiveKind::kBridge));
    o.Set("bridgeCalls", n(LiveKind::kBridgeCall));
    o.Set("hostedWriters", n(LiveKind::kHostedWriter));
    return o;
  }, "liveObjects"));
}

}  // namespace mbam
