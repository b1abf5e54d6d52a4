// Windows service support for `mbam-vss serve`: create and delete the service (automatic start,
// LocalSystem, as VSS writers run), and run this process as that service: the SCM's control
// dispatcher runs on its own thread, reports RUNNING, and turns STOP / SHUTDOWN into a JS callback;
// JavaScript unsubscribes the writer and then reports STOPPED.
#include <napi.h>
#include <windows.h>

#include <mutex>
#include <string>
#include <thread>

#include "common/errors.h"
#include "win/com.h"
#include "win/win.h"

namespace mbam {
namespace win {
namespace {

Napi::Value Win32Error(Napi::Env env, DWORD err, const std::string& op) {
  HResultError(env, static_cast<uint32_t>(HRESULT_FROM_WIN32(err)), op).ThrowAsJavaScriptException();
  return env.Undefined();
}

std::wstring Str(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? Utf8ToWide(info[i].As<Napi::String>().Utf8Value()) : std::wstring();
}

// createService(name, displayName, description, commandLine): the command line is quoted by
// the caller (src/platform/windows-service.ts), so that the quoting rules live in one place.
Napi::Value CreateServiceFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::wstring name = Str(info, 0), display = Str(info, 1), description = Str(info, 2), commandLine = Str(info, 3);
  if (name.empty() || commandLine.empty()) {
    Napi::TypeError::New(env, "createService(name, displayName, description, commandLine)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE);
  if (scm == nullptr) return Win32Error(env, GetLastError(), "OpenSCManager");
  SC_HANDLE svc = CreateServiceW(scm, name.c_str(), display.c_str(), SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                 SERVICE_ERROR_NORMAL, commandLine.c_str(), nullptr, nullptr, nullptr, nullptr, nullptr);
  if (svc == nullptr) {
    const DWORD err = GetLastError();
    CloseServiceHandle(scm);
    return Win32Error(env, err, "CreateService");
  }
  SERVICE_DESCRIPTIONW d{const_cast<wchar_t*>(description.c_str())};
  ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d);
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  return env.Undefined();
}

// deleteService(name) -> false when it did not exist (uninstall treats that as success).
Napi::Value DeleteServiceFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::wstring name = Str(info, 0);
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (scm == nullptr) return Win32Error(env, GetLastError(), "OpenSCManager");
  SC_HANDLE svc = OpenServiceW(scm, name.c_str(), DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS);
  if (svc == nullptr) {
    const DWORD err = GetLastError();
    CloseServiceHandle(scm);
    if (err == ERROR_SERVICE_DOES_NOT_EXIST) return Napi::Boolean::New(env, false);
    return Win32Error(env, err, "OpenService");
  }
  SERVICE_STATUS status{};
  ControlService(svc, SERVICE_CONTROL_STOP, &status);  // not running is fine
  const BOOL ok = DeleteService(svc);
  const DWORD err = GetLastError();
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  if (!ok && err != ERROR_SERVICE_MARKED_FOR_DELETE) return Win32Error(env, err, "DeleteService");
  return Napi::Boolean::New(env, true);
}

// ---- running as the service ----------------------------------------------------------------

struct ServiceState {
  std::mutex m;
  std::wstring name;
  SERVICE_STATUS_HANDLE handle = nullptr;
  SERVICE_STATUS status{};
  Napi::ThreadSafeFunction onStop;
  HANDLE stopped = nullptr;  // set when JS has finished stopping
  bool running = false;
};
ServiceState g_service;

void Report(DWORD state, DWORD exitCode = NO_ERROR) {
  std::lock_guard<std::mutex> lock(g_service.m);
  g_service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_service.status.dwCurrentState = state;
  g_service.status.dwWin32ExitCode = exitCode;
  g_service.status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  g_service.status.dwWaitHint = state == SERVICE_STOP_PENDING ? 30000 : 0;
  if (g_service.handle != nullptr) SetServiceStatus(g_service.handle, &g_service.status);
}

DWORD WINAPI ControlHandler(DWORD control, DWORD, LPVOID, LPVOID) {
  if (control == SERVICE_CONTROL_STOP || control == SERVICE_CONTROL_SHUTDOWN) {
    Report(SERVICE_STOP_PENDING);
    g_service.onStop.NonBlockingCall();
    return NO_ERROR;
  }
  return control == SERVICE_CONTROL_INTERROGATE ? NO_ERROR : ERROR_CALL_NOT_IMPLEMENTED;
}

void WINAPI ServiceMain(DWORD, LPWSTR*) {
  g_service.handle = RegisterServiceCtrlHandlerExW(g_service.name.c_str(), ControlHandler, nullptr);
  if (g_service.handle == nullptr) return;
  Report(SERVICE_RUNNING);
  WaitForSingleObject(g_service.stopped, INFINITE);
  Report(SERVICE_STOPPED);
}

// runAsService(name, onStop) -> Promise<void>, resolved when the SCM connection ends; rejected
// with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT when the process was not started by the SCM.
class DispatcherWorker : public Napi::AsyncWorker {
 public:
  explicit DispatcherWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    SERVICE_TABLE_ENTRYW table[] = {{const_cast<wchar_t*>(g_service.name.c_str()), ServiceMain}, {nullptr, nullptr}};
    if (!StartServiceCtrlDispatcherW(table)) {
      err_ = GetLastError();
      SetError("StartServiceCtrlDispatcher");
    }
  }
  void OnOK() override {
    g_service.onStop.Release();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error&) override {
    g_service.onStop.Release();
    deferred_.Reject(HResultError(Env(), static_cast<uint32_t>(HRESULT_FROM_WIN32(err_)), "StartServiceCtrlDispatcher").Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  DWORD err_ = 0;
};

Napi::Value RunAsService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction() || g_service.running) {
    Napi::TypeError::New(env, "runAsService(name, onStop) (once per process)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g_service.running = true;
  g_service.name = Str(info, 0);
  g_service.stopped = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_service.onStop = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "service stop", 0, 1);
  auto* w = new DispatcherWorker(env);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// serviceStopped(): JavaScript has unsubscribed; the service reports STOPPED and the dispatcher returns.
Napi::Value ServiceStopped(const Napi::CallbackInfo& info) {
  if (g_service.stopped != nullptr) SetEvent(g_service.stopped);
  return info.Env().Undefined();
}

}  // namespace

void RegisterServiceExports(Napi::Env env, Napi::Object exports) {
  exports.Set("createService", Napi::Function::New(env, CreateServiceFn, "createService"));
  exports.Set("deleteService", Napi::Function::New(env, DeleteServiceFn, "deleteService"));
  exports.Set("runAsService", Napi::Function::New(env, RunAsService, "runAsService"));
  exports.Set("serviceStopped", Napi::Function::New(env, ServiceStopped, "serviceStopped"));
}

}  // namespace win
}  // namespace mbam
