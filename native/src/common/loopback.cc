// The loopback event source: a native driver that calls the event bridge from its own threads in
// VSS's order, with VSS's rules (Abort after a failure before PostSnapshot, never after it;
// BackupShutdown always), so that the bridge is tested and measured on every platform.
//
// Test-only, but compiled into the shipped addon: the unit tests, the AddressSanitizer soak, the
// Wine smoke test of the cross-built prebuild and the benchmark then all exercise the bridge that
// users get, not a second build of it. It is reached only through test/support/loopback.ts (and
// the raw addon in bench/ and the soak scripts); src/ neither types nor exports it.
#include <napi.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/event_bridge.h"
#include "common/queue.h"

namespace mbam {
namespace {

struct Result {
  uint32_t thread, iteration;
  std::string event;
  uint32_t hr;
  double elapsedMs;
};

bool AbortsOnFailure(const std::string& e) {
  return e == "PrepareForBackup" || e == "PrepareForSnapshot" || e == "Freeze" || e == "Thaw";
}

class LoopbackWorker : public Napi::AsyncWorker {
 public:
  LoopbackWorker(Napi::Env env, std::shared_ptr<EventBridge> bridge, std::vector<std::string> events, std::string payload,
                 uint32_t timeoutMs, uint32_t threads, uint32_t iterations)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        bridge_(std::move(bridge)),
        events_(std::move(events)),
        payload_(std::move(payload)),
        timeoutMs_(timeoutMs),
        threads_(threads),
        iterations_(iterations),
        perThread_(threads) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::vector<std::thread> pool;
    for (uint32_t t = 0; t < threads_; t++) {
      pool.emplace_back([this, t] {
        auto& out = perThread_[t];
        for (uint32_t it = 0; it < iterations_; it++) {
          bool aborting = false;
          for (const std::string& e : events_) {
            if (aborting && e != "BackupShutdown") continue;
            const auto t0 = std::chrono::steady_clock::now();
            const uint32_t hr = bridge_->Dispatch(e, payload_, timeoutMs_);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            out.push_back({t, it, e, hr, ms});
            if (hr != 0 && AbortsOnFailure(e)) {
              const auto a0 = std::chrono::steady_clock::now();
              const uint32_t ahr = bridge_->Dispatch("Abort", payload_, timeoutMs_);
              out.push_back({t, it, "Abort", ahr, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a0).count()});
              aborting = true;
            }
          }
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  void OnOK() override {
    Napi::Env env = Env();
    size_t n = 0;
    for (auto& v : perThread_) n += v.size();
    Napi::Array arr = Napi::Array::New(env, n);
    uint32_t i = 0;
    for (auto& v : perThread_) {
      for (auto& r : v) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("thread", r.thread);
        o.Set("iteration", r.iteration);
        o.Set("event", r.event);
        o.Set("hr", r.hr);
        o.Set("elapsedMs", r.elapsedMs);
        arr.Set(i++, o);
      }
    }
    deferred_.Resolve(arr);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<EventBridge> bridge_;
  std::vector<std::string> events_;
  std::string payload_;
  uint32_t timeoutMs_, threads_, iterations_;
  std::vector<std::vector<Result>> perThread_;
};

// loopbackRun(bridge, { events, payload?, timeoutMs, threads?, iterations? }) -> Promise<results>
Napi::Value LoopbackRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<EventBridge> bridge = info.Length() > 0 ? UnwrapBridge(info[0]) : nullptr;
  if (!bridge || info.Length() < 2 || !info[1].IsObject()) {
    Napi::TypeError::New(env, "loopbackRun(bridge: EventBridge, options)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[1].As<Napi::Object>();
  std::vector<std::string> events;
  Napi::Value ev = o.Get("events");
  if (ev.IsArray()) {
    Napi::Array a = ev.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) events.push_back(a.Get(i).ToString().Utf8Value());
  }
  const auto num = [&](const char* k, uint32_t d) { Napi::Value v = o.Get(k); return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : d; };
  const std::string payload = o.Get("payload").IsString() ? o.Get("payload").As<Napi::String>().Utf8Value() : std::string("{}");
  return QueueWorker<LoopbackWorker>(env, bridge, std::move(events), payload, num("timeoutMs", 60000), num("threads", 1), num("iterations", 1));
}

}  // namespace

void RegisterLoopback(Napi::Env env, Napi::Object exports) {
  exports.Set("loopbackRun", Napi::Function::New(env, LoopbackRun, "loopbackRun"));
}

}  // namespace mbam
