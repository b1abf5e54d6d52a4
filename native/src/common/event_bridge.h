#pragma once
// The event bridge: VSS calls a writer on its own threads and waits for the answer; the handlers
// are JavaScript. Dispatch() runs on the caller's (foreign) thread: it queues the event to the JS
// thread through a thread-safe function and blocks until the handler settles or the per-event
// deadline passes. The state of one call is shared (std::shared_ptr) between the waiting thread
// and the JS side, so an answer that arrives after the deadline touches nothing freed.
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>

namespace mbam {

// The HRESULTs the bridge itself produces; handler failures carry the handler's own code.
constexpr uint32_t kWriterTimeout = 0x800423F2;       // VSS_E_WRITERERROR_TIMEOUT
constexpr uint32_t kWriterRetryable = 0x800423F3;     // VSS_E_WRITERERROR_RETRYABLE
constexpr uint32_t kWriterNonRetryable = 0x800423F4;  // VSS_E_WRITERERROR_NONRETRYABLE

struct BridgeCall {
  BridgeCall();
  ~BridgeCall();
  BridgeCall(const BridgeCall&) = delete;
  BridgeCall& operator=(const BridgeCall&) = delete;
  // How many calls exist right now, across all bridges: the leak check of the tests.
  static int64_t Live();
  std::mutex m;
  std::condition_variable cv;
  bool settled = false;
  uint32_t hr = 0;
  std::string event;
  std::string payload;
};

class EventBridge : public std::enable_shared_from_this<EventBridge> {
 public:
  // `handler(event, payload, complete)` runs on the JS thread; it must call complete(hr) once.
  static std::shared_ptr<EventBridge> Create(Napi::Env env, Napi::Function handler);
  ~EventBridge();

  // From any thread but the JS thread. Returns the handler's HRESULT (0 = success), or
  // kWriterTimeout when the deadline passed, or kWriterRetryable when the bridge is shutting down.
  // timeoutMs 0 queues the event and returns at once (the benchmark's floor: no wait).
  uint32_t Dispatch(const std::string& event, const std::string& payload, uint32_t timeoutMs);

  // Fails every waiting call and refuses new ones; called on close and when the environment ends.
  void Shutdown();

  size_t Pending();

  // An unref'd bridge does not keep the event loop alive (JS thread only).
  void Ref(Napi::Env env) { tsfn_.Ref(env); }
  void Unref(Napi::Env env) { tsfn_.Unref(env); }

 private:
  EventBridge() = default;
  static void CleanupHook(void* self);

  Napi::ThreadSafeFunction tsfn_;
  napi_env env_ = nullptr;
  std::mutex m_;
  bool closed_ = false;
  std::list<std::weak_ptr<BridgeCall>> pending_;
};

void RegisterEventBridge(Napi::Env env, Napi::Object exports);
void RegisterLoopback(Napi::Env env, Napi::Object exports);

// The bridge behind a JS EventBridge object (for the loopback driver and the Windows host).
std::shared_ptr<EventBridge> UnwrapBridge(Napi::Value v);

}  // namespace mbam
