#pragma once
// A promise-returning async worker whose Run() executes on a libuv pool thread inside an MTA
// apartment with COM security set: no COM call ever runs on the JavaScript thread. A failure is
// an HRESULT plus the operation that returned it; JavaScript names it from the one HRESULT table.
#include <napi.h>

#include <string>

#include "common/errors.h"
#include "win/com.h"

namespace mbam {
namespace win {

class ComWorker : public Napi::AsyncWorker {
 public:
  explicit ComWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  // Records the failure; returns true when hr failed so that callers can `if (Fail(...)) return;`.
  bool Fail(HRESULT hr, const std::string& operation) {
    if (SUCCEEDED(hr)) return false;
    hr_ = hr;
    operation_ = operation;
    SetError(operation);
    return true;
  }
  bool Failed() const { return FAILED(hr_); }

 private:
  void Execute() final {
    Apartment apartment;
    if (Fail(apartment.hr(), "CoInitializeEx(COINIT_MULTITHREADED)")) return;
    if (Fail(EnsureComSecurity(), "CoInitializeSecurity")) return;
    Run();
  }
  void OnOK() final { deferred_.Resolve(Result(Env())); }
  void OnError(const Napi::Error&) final {
    deferred_.Reject(HResultError(Env(), static_cast<uint32_t>(hr_), operation_).Value());
  }

  Napi::Promise::Deferred deferred_;
  HRESULT hr_ = S_OK;
  std::string operation_;
};

}  // namespace win
}  // namespace mbam
