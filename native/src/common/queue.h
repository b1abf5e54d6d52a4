#pragma once
#include <napi.h>

#include <utility>

namespace mbam {

// Creates an async worker that owns a promise (Promise()), queues it, and returns the promise:
// the one way every asynchronous native entry point starts its work.
template <typename Worker, typename... Args>
Napi::Value QueueWorker(Args&&... args) {
  auto* w = new Worker(std::forward<Args>(args)...);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace mbam
