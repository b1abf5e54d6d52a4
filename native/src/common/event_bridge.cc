#include "common/event_bridge.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mbam {

namespace {
std::atomic<int64_t> g_liveCalls{0};
}  // namespace

BridgeCall::BridgeCall() { g_liveCalls.fetch_add(1); }
BridgeCall::~BridgeCall() { g_liveCalls.fetch_sub(1); }
int64_t BridgeCall::Live() { return g_liveCalls.load(); }

namespace {

void Settle(const std::shared_ptr<BridgeCall>& call, uint32_t hr) {
  std::lock_guard<std::mutex> lock(call->m);
  if (call->settled) return;  // first answer wins; a late or second one is ignored
  call->settled = true;
  call->hr = hr;
  call->cv.notify_all();
}

// complete(hr) on the JS side; its data is a heap-held shared_ptr freed with the function.
Napi::Value Complete(const Napi::CallbackInfo& info) {
  auto* holder = static_cast<std::shared_ptr<BridgeCall>*>(info.Data());
  uint32_t hr = kWriterNonRetryable;
  if (info.Length() > 0 && info[0].IsNumber()) hr = info[0].As<Napi::Number>().Uint32Value();
  Settle(*holder, hr);
  return info.Env().Undefined();
}

}  // namespace

std::shared_ptr<EventBridge> EventBridge::Create(Napi::Env env, Napi::Function handler) {
  std::shared_ptr<EventBridge> b(new EventBridge());
  b->env_ = env;
  b->tsfn_ = Napi::ThreadSafeFunction::New(env, handler, "mbam-vss event bridge", 0, 1);
  // An environment that ends (worker terminated, process exiting) fails the waiting calls.
  napi_add_env_cleanup_hook(env, CleanupHook, b.get());
  return b;
}

EventBridge::~EventBridge() {
  Shutdown();
  if (env_ != nullptr) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
}

void EventBridge::CleanupHook(void* self) {
  auto* b = static_cast<EventBridge*>(self);
  b->Shutdown();
  b->env_ = nullptr;
}

void EventBridge::Shutdown() {
  std::list<std::weak_ptr<BridgeCall>> pending;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (closed_) return;
    closed_ = true;
    pending.swap(pending_);
    tsfn_.Abort();
  }
  for (auto& w : pending) {
    if (auto call = w.lock()) Settle(call, kWriterRetryable);
  }
}

size_t EventBridge::Pending() {
  std::lock_guard<std::mutex> lock(m_);
  pending_.remove_if([](const std::weak_ptr<BridgeCall>& w) { return w.expired(); });
  return pending_.size();
}

uint32_t EventBridge::Dispatch(const std::string& event, const std::string& payload, uint32_t timeoutMs) {
  auto call = std::make_shared<BridgeCall>();
  call->event = event;
  call->payload = payload;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (closed_) return kWriterRetryable;
    pending_.push_back(call);
  }
  auto* holder = new std::shared_ptr<BridgeCall>(call);
  const napi_status st = tsfn_.NonBlockingCall(holder, [](Napi::Env env, Napi::Function fn, std::shared_ptr<BridgeCall>* h) {
    if (env == nullptr || fn.IsEmpty()) {
      // The queue is being torn down: answer as a shutdown.
      Settle(*h, kWriterRetryable);
      delete h;
      return;
    }
    Napi::Function complete = Napi::Function::New(env, Complete, "complete", h);
    // The holder lives as long as the complete function: a handler that never answers keeps
    // only this small object until it is collected.
    complete.AddFinalizer([](Napi::Env, std::shared_ptr<BridgeCall>* p) { delete p; }, h);
    fn.Call({Napi::String::New(env, (*h)->event), Napi::String::New(env, (*h)->payload), complete});
    if (env.IsExceptionPending()) {
      // A synchronous throw from the dispatcher itself.
      env.GetAndClearPendingException();
      Settle(*h, kWriterNonRetryable);
    }
  });
  if (st != napi_ok) {
    delete holder;
    return kWriterRetryable;
  }
  if (timeoutMs == 0) return 0;
  std::unique_lock<std::mutex> lock(call->m);
  const bool answered = call->cv.wait_for(lock, std::chrono::milliseconds(timeoutMs), [&] { return call->settled; });
  if (!answered) {
    // The deadline passed: the writer reports TIMEOUT now; a late answer finds the call settled.
    call->settled = true;
    call->hr = kWriterTimeout;
  }
  return call->hr;
}

namespace {

class BridgeWrap : public Napi::ObjectWrap<BridgeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EventBridge",
                       {InstanceMethod("close", &BridgeWrap::Close), InstanceMethod("pending", &BridgeWrap::PendingCount),
                        InstanceMethod("unref", &BridgeWrap::Unref), InstanceMethod("ref", &BridgeWrap::Ref)});
  }
  explicit BridgeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BridgeWrap>(info) {
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "new EventBridge(handler: (event, payload, complete) => void)").ThrowAsJavaScriptException();
      return;
    }
    bridge_ = EventBridge::Create(info.Env(), info[0].As<Napi::Function>());
  }
  std::shared_ptr<EventBridge> bridge() const { return bridge_; }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (bridge_) bridge_->Shutdown();
    return info.Env().Undefined();
  }
  Napi::Value PendingCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), bridge_ ? static_cast<double>(bridge_->Pending()) : 0);
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (bridge_) bridge_->Unref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (bridge_) bridge_->Ref(info.Env());
    return info.Env().Undefined();
  }
  std::shared_ptr<EventBridge> bridge_;
};

}  // namespace

// The constructor is kept per environment (worker threads each load the addon).
struct BridgeClass {
  Napi::FunctionReference ctor;
};

std::shared_ptr<EventBridge> UnwrapBridge(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  auto* cls = v.Env().GetInstanceData<BridgeClass>();
  if (cls == nullptr || !v.As<Napi::Object>().InstanceOf(cls->ctor.Value())) return nullptr;
  return BridgeWrap::Unwrap(v.As<Napi::Object>())->bridge();
}

void RegisterEventBridge(Napi::Env env, Napi::Object exports) {
  exports.Set("eventBridgeLiveCalls", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(BridgeCall::Live()));
  }, "eventBridgeLiveCalls"));
  Napi::Function ctor = BridgeWrap::Define(env);
  auto* cls = new BridgeClass{Napi::Persistent(ctor)};
  env.SetInstanceData<BridgeClass>(cls);
  exports.Set("EventBridge", ctor);
}

}  // namespace mbam
