#pragma once
// Debug counters of the native objects alive right now, exported as liveObjects(): the tests create
// and end many objects and check that every count returns to zero (nothing kept in a table that
// never shrinks, nothing leaked by a finalizer that did not run).
#include <napi.h>

#include <cstdint>

namespace mbam {

enum class LiveKind : int { kBridge = 0, kBridgeCall, kHostedWriter, kCount };

void LiveAdd(LiveKind kind, int64_t delta);

// Counts one object of `Kind` for as long as it exists: a member or base of the counted type.
template <LiveKind Kind>
struct LiveCounted {
  LiveCounted() { LiveAdd(Kind, 1); }
  LiveCounted(const LiveCounted&) { LiveAdd(Kind, 1); }
  LiveCounted& operator=(const LiveCounted&) = default;
  ~LiveCounted() { LiveAdd(Kind, -1); }
};

void RegisterLiveObjects(Napi::Env env, Napi::Object exports);

}  // namespace mbam
