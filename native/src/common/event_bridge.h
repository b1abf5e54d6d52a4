#pragma once
// The event bridge: VSS calls a writer on its own threads and waits for the answer; the handlers
// are JavaScript. Dispatch() runs on the caller's (foreign) thread: it queues the event to the JS
// thread through a thread-safe function and blocks until the handler answers or the per-event
// deadline passes.
//
// A waiting call's state lives on the waiting thread's stack and is reachable from JavaScript only
// through a numbered slot, looked up under the bridge's mutex: the deadline (or a shutdown) empties
// the slot before the state goes away, so an answer that arrives late finds nothing and touches
// nothing freed. No call allocates in the steady state (slots are reused, the thread-safe
// function carries the slot number as its data), and the waiting thread spins briefly before it
// sleeps, because a handler that answers at once does so within a few tens of microseconds.
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/live_objects.h"

namespace mbam {

// The HRESULTs the bridge itself produces; handler failures carry the handler's own code.
constexpr uint32_t kWriterTimeout = 0x800423F2;       // VSS_E_WRITERERROR_TIMEOUT
constexpr uint32_t kWriterRetryable = 0x800423F3;     // VSS_E_WRITERERROR_RETRYABLE
constexpr uint32_t kWriterNonRetryable = 0x800423F4;  // VSS_E_WRITERERROR_NONRETRYABLE

class EventBridge : public std::enable_shared_from_this<EventBridge>, LiveCounted<LiveKind::kBridge> {
 public:
  // `handler(event, payload, callId, complete)` runs on the JS thread; the handler answers with
  // complete(callId, hr) once. Create and destroy on the JS thread only.
  static std::shared_ptr<EventBridge> Create(Napi::Env env, Napi::Function handler);
  ~EventBridge();
  EventBridge(const EventBridge&) = delete;
  EventBridge& operator=(const EventBridge&) = delete;

  // From any thread but the JS thread. Returns the handler's HRESULT (0 = success), or
  // kWriterTimeout when the deadline passed, or kWriterRetryable when the bridge is shutting down.
  // timeoutMs 0 queues the event and returns at once (a notification; the benchmark's floor).
  uint32_t Dispatch(const std::string& event, const std::string& payload, uint32_t timeoutMs);

  // Fails every waiting call and refuses new ones; called on close, on collection and when the
  // environment ends.
  void Shutdown();

  // Calls not answered yet (waiting, or queued without a wait).
  size_t Pending();

  // An unref'd bridge does not keep the event loop alive (JS thread only).
  void Ref(Napi::Env env);
  void Unref(Napi::Env env);

 private:
  struct Call : LiveCounted<LiveKind::kBridgeCall> {
    // A waiting call points at the dispatcher's strings; a queued notification owns copies.
    const std::string* event = nullptr;
    const std::string* payload = nullptr;
    std::string ownedEvent, ownedPayload;
    bool owned = false;
    uint32_t hr = 0;
    std::atomic<bool> settled{false};
    std::condition_variable cv;
  };
  struct Slot {
    Call* call = nullptr;
    uint32_t generation = 0;
  };

  EventBridge() = default;
  static void CallJs(napi_env env, napi_value fn, void* context, void* data);
  static void FinalizeTsfn(napi_env env, void* data, void* hint);
  static void CleanupHook(void* self);
  static Napi::Value Complete(const Napi::CallbackInfo& info);

  // Under m_.
  uint64_t Insert(Call* c);
  Call* Take(uint64_t id);  // empties the slot; nullptr when it was answered, timed out or shut down
  Call* Find(uint64_t id);

  napi_threadsafe_function tsfn_ = nullptr;
  napi_env env_ = nullptr;
  Napi::FunctionReference complete_;
  std::mutex m_;
  bool closed_ = false;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t used_ = 0;
};

void RegisterEventBridge(Napi::Env env, Napi::Object exports);
void RegisterLoopback(Napi::Env env, Napi::Object exports);

// The bridge behind a JS EventBridge object (for the loopback driver and the Windows host), or
// nullptr when the value is not one.
std::shared_ptr<EventBridge> UnwrapBridge(Napi::Value v);

}  // namespace mbam
