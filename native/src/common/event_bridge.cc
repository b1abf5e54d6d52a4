#include "common/event_bridge.h"

#include <chrono>
#include <thread>

namespace mbam {

namespace {

// How long a waiting thread polls for the answer before it sleeps on the condition variable. A
// handler that answers at once (most events, for most writers) does within this, and the futex
// sleep and wake-up it saves are a large part of a round trip. It polls with sched_yield rather
// than a busy pause loop: on a loaded two-core machine the JS thread (or anyone else) gets the
// core at once, where a pause loop measured slower than not spinning at all (bench/README.md).
// A handler that takes longer costs at most this much polling once, which VSS's rare events
// can afford.
constexpr auto kSpin = std::chrono::microseconds(400);

// A call id carries the slot index in its low bits and the slot's generation above them, so a
// late answer to a reused slot is recognised; 20 + 32 bits stay exact in a JavaScript number.
constexpr int kIndexBits = 20;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;

}  // namespace

std::shared_ptr<EventBridge> EventBridge::Create(Napi::Env env, Napi::Function handler) {
  std::shared_ptr<EventBridge> b(new EventBridge());
  b->env_ = env;
  // The thread-safe function and the complete() function reach the bridge through weak
  // references: either may outlive it (a queued call being torn down, a handler keeping complete).
  auto* ctx = new std::weak_ptr<EventBridge>(b);
  napi_value name = Napi::String::New(env, "mbam-vss event bridge");
  if (napi_create_threadsafe_function(env, handler, nullptr, name, 0, 1, ctx, FinalizeTsfn, ctx, CallJs, &b->tsfn_) != napi_ok) {
    delete ctx;
    b->tsfn_ = nullptr;
    b->closed_ = true;
  }
  auto* cdata = new std::weak_ptr<EventBridge>(b);
  Napi::Function complete = Napi::Function::New(env, Complete, "complete", cdata);
  complete.AddFinalizer([](Napi::Env, std::weak_ptr<EventBridge>* p) { delete p; }, cdata);
  b->complete_ = Napi::Persistent(complete);
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
  b->complete_.Reset();
  b->env_ = nullptr;
}

void EventBridge::FinalizeTsfn(napi_env, void* data, void*) { delete static_cast<std::weak_ptr<EventBridge>*>(data); }

uint64_t EventBridge::Insert(Call* c) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() > kIndexMask) return 0;  // a million calls at once: refused
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[index];
  s.call = c;
  if (++s.generation == 0) s.generation = 1;  // id 0 means "refused"
  used_++;
  return (static_cast<uint64_t>(s.generation) << kIndexBits) | index;
}

EventBridge::Call* EventBridge::Find(uint64_t id) {
  const uint64_t index = id & kIndexMask;
  if (index >= slots_.size()) return nullptr;
  const Slot& s = slots_[index];
  return s.call != nullptr && s.generation == static_cast<uint32_t>(id >> kIndexBits) ? s.call : nullptr;
}

EventBridge::Call* EventBridge::Take(uint64_t id) {
  Call* c = Find(id);
  if (c == nullptr) return nullptr;
  const uint32_t index = static_cast<uint32_t>(id & kIndexMask);
  slots_[index].call = nullptr;
  free_.push_back(index);
  used_--;
  return c;
}

void EventBridge::Shutdown() {
  std::vector<Call*> owned;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (closed_) return;
    closed_ = true;
    for (Slot& s : slots_) {
      Call* c = s.call;
      if (c == nullptr) continue;
      s.call = nullptr;
      if (c->owned) {
        owned.push_back(c);
      } else {
        c->hr = kWriterRetryable;
        c->settled.store(true, std::memory_order_release);
        c->cv.notify_one();
      }
    }
    std::vector<Slot>().swap(slots_);
    std::vector<uint32_t>().swap(free_);
    used_ = 0;
    // Under the lock: Dispatch calls the thread-safe function only under it and only while open,
    // so nothing calls it after the abort (which frees it soon after, on the JS thread).
    if (tsfn_ != nullptr) napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  }
  for (Call* c : owned) delete c;
}

size_t EventBridge::Pending() {
  std::lock_guard<std::mutex> lock(m_);
  return used_;
}

void EventBridge::Ref(Napi::Env env) {
  std::lock_guard<std::mutex> lock(m_);
  if (!closed_) napi_ref_threadsafe_function(env, tsfn_);
}

void EventBridge::Unref(Napi::Env env) {
  std::lock_guard<std::mutex> lock(m_);
  if (!closed_) napi_unref_threadsafe_function(env, tsfn_);
}

uint32_t EventBridge::Dispatch(const std::string& event, const std::string& payload, uint32_t timeoutMs) {
  if (timeoutMs == 0) {
    // A notification: nobody waits, so the call owns copies and the JS side frees it on delivery.
    auto* c = new Call();
    c->owned = true;
    c->ownedEvent = event;
    c->ownedPayload = payload;
    c->event = &c->ownedEvent;
    c->payload = &c->ownedPayload;
    std::lock_guard<std::mutex> lock(m_);
    const uint64_t id = closed_ ? 0 : Insert(c);
    if (id == 0 || napi_call_threadsafe_function(tsfn_, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), napi_tsfn_nonblocking) != napi_ok) {
      if (id != 0) Take(id);
      delete c;
      return kWriterRetryable;
    }
    return 0;
  }

  Call call;
  call.event = &event;
  call.payload = &payload;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(m_);
    id = closed_ ? 0 : Insert(&call);
    if (id == 0) return kWriterRetryable;
    if (napi_call_threadsafe_function(tsfn_, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), napi_tsfn_nonblocking) != napi_ok) {
      Take(id);
      return kWriterRetryable;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(timeoutMs);
  while (!call.settled.load(std::memory_order_acquire) && std::chrono::steady_clock::now() - start < kSpin) std::this_thread::yield();
  // Always through the lock, also when the spin saw the answer: the answering thread may still be
  // inside notify_one on this call, which lives on this stack.
  std::unique_lock<std::mutex> lock(m_);
  if (!call.cv.wait_until(lock, deadline, [&] { return call.settled.load(std::memory_order_relaxed); })) {
    // The deadline passed: the writer reports TIMEOUT now; a late answer finds the slot empty.
    Take(id);
    return kWriterTimeout;
  }
  return call.hr;
}

void EventBridge::CallJs(napi_env env, napi_value fn, void* context, void* data) {
  if (env == nullptr || fn == nullptr) return;  // torn down: Shutdown already emptied the slots
  std::shared_ptr<EventBridge> self = static_cast<std::weak_ptr<EventBridge>*>(context)->lock();
  if (!self) return;
  const uint64_t id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data));
  Napi::Env e(env);
  napi_value argv[4];
  Call* notification = nullptr;
  {
    std::lock_guard<std::mutex> lock(self->m_);
    Call* c = self->Find(id);
    // Timed out or shut down before it got here: VSS has given up on it, so the handler does not run.
    if (c == nullptr) return;
    argv[0] = Napi::String::New(e, *c->event);
    argv[1] = Napi::String::New(e, *c->payload);
    if (c->owned) notification = self->Take(id);
  }
  delete notification;
  argv[2] = Napi::Number::New(e, static_cast<double>(id));
  argv[3] = self->complete_.Value();
  napi_value undefined, result;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, fn, 4, argv, &result) != napi_ok) {
    // A synchronous throw from the dispatcher itself.
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    std::lock_guard<std::mutex> lock(self->m_);
    if (Call* c = self->Take(id)) {
      c->hr = kWriterNonRetryable;
      c->settled.store(true, std::memory_order_release);
      c->cv.notify_one();
    }
  }
}

// complete(callId, hr) on the JS side; the first answer wins, a late or second one is ignored.
Napi::Value EventBridge::Complete(const Napi::CallbackInfo& info) {
  std::shared_ptr<EventBridge> self = static_cast<std::weak_ptr<EventBridge>*>(info.Data())->lock();
  if (!self || info.Length() < 1 || !info[0].IsNumber()) return info.Env().Undefined();
  const uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const uint32_t hr = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : kWriterNonRetryable;
  std::lock_guard<std::mutex> lock(self->m_);
  if (Call* c = self->Take(id)) {
    c->hr = hr;
    c->settled.store(true, std::memory_order_release);
    c->cv.notify_one();
  }
  return info.Env().Undefined();
}

namespace {

// Marks EventBridge objects, so that a value handed back to native code is checked to be one
// before it is unwrapped (N-API 8 type tags).
constexpr napi_type_tag kBridgeTag = {0x6d62616d2d767373ULL, 0x6272696467650001ULL};

class BridgeWrap : public Napi::ObjectWrap<BridgeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EventBridge",
                       {InstanceMethod("close", &BridgeWrap::Close), InstanceMethod("pending", &BridgeWrap::PendingCount),
                        InstanceMethod("unref", &BridgeWrap::Unref), InstanceMethod("ref", &BridgeWrap::Ref)});
  }
  explicit BridgeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BridgeWrap>(info) {
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "new EventBridge(handler: (event, payload, callId, complete) => void)").ThrowAsJavaScriptException();
      return;
    }
    bridge_ = EventBridge::Create(info.Env(), info[0].As<Napi::Function>());
    info.This().As<Napi::Object>().TypeTag(&kBridgeTag);
  }
  // Collected: the bridge shuts down (if it was not closed) and is freed with its last holder.
  ~BridgeWrap() override = default;
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

std::shared_ptr<EventBridge> UnwrapBridge(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kBridgeTag)) return nullptr;
  BridgeWrap* w = BridgeWrap::Unwrap(o);
  return w != nullptr ? w->bridge() : nullptr;
}

void RegisterEventBridge(Napi::Env env, Napi::Object exports) {
  exports.Set("EventBridge", BridgeWrap::Define(env));
}

}  // namespace mbam
