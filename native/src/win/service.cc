// Windows service support for `mbam-vss serve`: create, start and delete the service (automatic
// start, LocalSystem, as VSS writers run), and run this process as that service: the SCM's control
// dispatcher runs on its own thread and reports START_PENDING at once; JavaScript starts (topology,
// SQL check, subscribe) and reports RUNNING or its failure; STOP / SHUTDOWN become a JS callback,
// and JavaScript unsubscribes the writer and then reports STOPPED.
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

// Polls the service until it reaches `want` (or, with wantAny, any non-pending state), up to
// timeoutMs; returns the last status.
SERVICE_STATUS_PROCESS WaitForState(SC_HANDLE svc, DWORD want, DWORD timeoutMs, bool wantAny = false) {
  SERVICE_STATUS_PROCESS st{};
  const ULONGLONG end = GetTickCount64() + timeoutMs;
  for (;;) {
    DWORD needed = 0;
    if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, reinterpret_cast<LPBYTE>(&st), sizeof st, &needed)) break;
    const bool pending = st.dwCurrentState == SERVICE_START_PENDING || st.dwCurrentState == SERVICE_STOP_PENDING ||
                         st.dwCurrentState == SERVICE_CONTINUE_PENDING || st.dwCurrentState == SERVICE_PAUSE_PENDING;
    if (st.dwCurrentState == want || (wantAny && !pending) || GetTickCount64() >= end) break;
    Sleep(250);
  }
  return st;
}

// Stops the service if it runs and waits for SERVICE_STOPPED: deleting a running service only
// marks it for deletion, and a new one of that name cannot be created until the old one is gone.
// A service still starting accepts no controls ("ControlService function": ERROR_SERVICE_CANNOT_
// ACCEPT_CTRL or ERROR_INVALID_SERVICE_CONTROL while START_PENDING): its start is waited out and
// the STOP sent again, or an uninstall during a start would leave the writer running.
void StopAndWait(SC_HANDLE svc, DWORD timeoutMs) {
  const ULONGLONG end = GetTickCount64() + timeoutMs;
  for (;;) {
    SERVICE_STATUS status{};
    if (ControlService(svc, SERVICE_CONTROL_STOP, &status)) break;
    const DWORD err = GetLastError();
    if (err != ERROR_SERVICE_CANNOT_ACCEPT_CTRL && err != ERROR_INVALID_SERVICE_CONTROL) return;  // not running, or no access
    const ULONGLONG now = GetTickCount64();
    if (now >= end) return;
    const SERVICE_STATUS_PROCESS st = WaitForState(svc, SERVICE_RUNNING, static_cast<DWORD>(end - now), true);
    if (st.dwCurrentState == SERVICE_STOPPED) return;
    if (st.dwCurrentState != SERVICE_RUNNING) {
      // STOP_PENDING: somebody else is stopping it; wait for the end below.
      if (st.dwCurrentState == SERVICE_STOP_PENDING) break;
      return;
    }
  }
  const ULONGLONG now = GetTickCount64();
  if (now < end) WaitForState(svc, SERVICE_STOPPED, static_cast<DWORD>(end - now));
}

// createService(name, displayName, description, commandLine): the command line is quoted by
// the caller (src/platform/windows-service.ts), so that the quoting rules live in one place. The
// writer subscribes through the COM+ Event System and serves VSS: both are dependencies, so the
// SCM starts them first. ERROR_SERVICE_MARKED_FOR_DELETE (1072: an old instance still has open
// handles) is waited out for up to 30 s.
Napi::Value CreateServiceFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::wstring name = Str(info, 0), display = Str(info, 1), description = Str(info, 2), commandLine = Str(info, 3);
  if (name.empty() || commandLine.empty()) {
    Napi::TypeError::New(env, "createService(name, displayName, description, commandLine)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE);
  if (scm == nullptr) return Win32Error(env, GetLastError(), "OpenSCManager");
  static const wchar_t kDependencies[] = L"EventSystem\0VSS\0";
  SC_HANDLE svc = nullptr;
  DWORD err = NO_ERROR;
  const ULONGLONG end = GetTickCount64() + 30000;
  for (;;) {
    svc = CreateServiceW(scm, name.c_str(), display.c_str(), SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                         SERVICE_ERROR_NORMAL, commandLine.c_str(), nullptr, nullptr, kDependencies, nullptr, nullptr);
    err = svc == nullptr ? GetLastError() : NO_ERROR;
    if (err != ERROR_SERVICE_MARKED_FOR_DELETE || GetTickCount64() >= end) break;
    Sleep(500);
  }
  if (svc == nullptr) {
    CloseServiceHandle(scm);
    return Win32Error(env, err, err == ERROR_SERVICE_MARKED_FOR_DELETE ? "CreateService (the old service is still marked for deletion: close services.msc and any sc/PowerShell session that holds it, or reboot)" : "CreateService");
  }
  SERVICE_DESCRIPTIONW d{const_cast<wchar_t*>(description.c_str())};
  ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d);
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  return env.Undefined();
}

// startService(name, timeoutMs) -> { state, win32ExitCode, serviceSpecificExitCode }: starts it and
// waits until it is RUNNING or has stopped again (then the exit codes say why).
Napi::Value StartServiceFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::wstring name = Str(info, 0);
  const DWORD timeoutMs = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 60000;
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (scm == nullptr) return Win32Error(env, GetLastError(), "OpenSCManager");
  SC_HANDLE svc = OpenServiceW(scm, name.c_str(), SERVICE_START | SERVICE_QUERY_STATUS);
  if (svc == nullptr) {
    const DWORD err = GetLastError();
    CloseServiceHandle(scm);
    return Win32Error(env, err, "OpenService");
  }
  if (!StartServiceW(svc, 0, nullptr) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING) {
    const DWORD err = GetLastError();
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return Win32Error(env, err, "StartService");
  }
  const SERVICE_STATUS_PROCESS st = WaitForState(svc, SERVICE_RUNNING, timeoutMs, true);
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  Napi::Object o = Napi::Object::New(env);
  const char* state = st.dwCurrentState == SERVICE_RUNNING ? "running" : st.dwCurrentState == SERVICE_STOPPED ? "stopped" : "pending";
  o.Set("state", state);
  o.Set("win32ExitCode", Napi::Number::New(env, st.dwWin32ExitCode));
  o.Set("serviceSpecificExitCode", Napi::Number::New(env, st.dwServiceSpecificExitCode));
  return o;
}

// deleteService(name) -> false when it did not exist (uninstall treats that as success). A running
// service is stopped first and waited for.
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
  StopAndWait(svc, 60000);
  const BOOL ok = DeleteService(svc);
  const DWORD err = GetLastError();
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  if (!ok && err != ERROR_SERVICE_MARKED_FOR_DELETE) return Win32Error(env, err, "DeleteService");
  return Napi::Boolean::New(env, true);
}

// ---- running as the service ----------------------------------------------------------------
// The SCM gives a starting service 30 s to call StartServiceCtrlDispatcher, and then expects
// START_PENDING with advancing checkpoints until RUNNING. So the dispatcher starts first, before
// JavaScript loads the topology or subscribes; a ticker advances the checkpoint while JavaScript
// starts (or, after STOP, unsubscribes), and a failure is reported as STOPPED with its code.

struct ServiceState {
  std::mutex m;
  std::wstring name;
  SERVICE_STATUS_HANDLE handle = nullptr;
  SERVICE_STATUS status{};
  Napi::ThreadSafeFunction onStart, onStop;
  HANDLE stopped = nullptr;  // set when JS has finished (stopped or failed to start)
  HANDLE tickerStop = nullptr;
  bool running = false;
  DWORD registerError = NO_ERROR;  // RegisterServiceCtrlHandlerEx failed
};
ServiceState g_service;

void ReportLocked(DWORD state, DWORD win32Exit = NO_ERROR, DWORD specificExit = 0) {
  g_service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_service.status.dwCurrentState = state;
  g_service.status.dwWin32ExitCode = win32Exit;
  g_service.status.dwServiceSpecificExitCode = specificExit;
  g_service.status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  const bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  g_service.status.dwWaitHint = pending ? 10000 : 0;
  g_service.status.dwCheckPoint = pending ? g_service.status.dwCheckPoint + 1 : 0;
  if (g_service.handle != nullptr) SetServiceStatus(g_service.handle, &g_service.status);
}
void Report(DWORD state, DWORD win32Exit = NO_ERROR, DWORD specificExit = 0) {
  std::lock_guard<std::mutex> lock(g_service.m);
  ReportLocked(state, win32Exit, specificExit);
}

// Advances the checkpoint every 2 s while the state is pending, for at most kMaxPendingMs per
// pending phase: "SetServiceStatus function" calls a thread that reports progress whatever the
// work does "a common bug", since a hung start or stop would then never be seen as hung. The start
// (topology, a SQL login bounded at 15 s, Subscribe) and the stop (Unsubscribe, bounded by the
// event timeout) end well within the cap; past it the checkpoint stops, and the SCM's wait hint
// lets it declare the service hung. The exit codes stay as set (a STOPPED report must keep them).
constexpr ULONGLONG kMaxPendingMs = 120000;
DWORD WINAPI Ticker(void*) {
  DWORD phase = 0;
  ULONGLONG phaseStart = 0;
  while (WaitForSingleObject(g_service.tickerStop, 2000) == WAIT_TIMEOUT) {
    std::lock_guard<std::mutex> lock(g_service.m);
    const DWORD st = g_service.status.dwCurrentState;
    if (st != phase) {
      phase = st;
      phaseStart = GetTickCount64();
    }
    if ((st == SERVICE_START_PENDING || st == SERVICE_STOP_PENDING) && GetTickCount64() - phaseStart < kMaxPendingMs) {
      ReportLocked(st, g_service.status.dwWin32ExitCode, g_service.status.dwServiceSpecificExitCode);
    }
  }
  return 0;
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
  if (g_service.handle == nullptr) {
    // Nothing can be reported to the SCM without the handle; the dispatcher returns and
    // runAsService rejects with this error instead of waiting for a start that never comes.
    g_service.registerError = GetLastError();
    return;
  }
  Report(SERVICE_START_PENDING);
  g_service.tickerStop = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  HANDLE ticker = CreateThread(nullptr, 0, Ticker, nullptr, 0, nullptr);
  g_service.onStart.NonBlockingCall();
  WaitForSingleObject(g_service.stopped, INFINITE);
  SetEvent(g_service.tickerStop);
  if (ticker != nullptr) {
    WaitForSingleObject(ticker, INFINITE);
    CloseHandle(ticker);
  }
  {
    std::lock_guard<std::mutex> lock(g_service.m);
    // serviceStopped(code) set the exit codes already; STOPPED ends the dispatcher.
    ReportLocked(SERVICE_STOPPED, g_service.status.dwWin32ExitCode, g_service.status.dwServiceSpecificExitCode);
  }
}

// runAsService(name, onStart, onStop) -> Promise<void>, resolved when the SCM connection ends;
// rejected with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT when the process was not started by the SCM.
class DispatcherWorker : public Napi::AsyncWorker {
 public:
  explicit DispatcherWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    SERVICE_TABLE_ENTRYW table[] = {{const_cast<wchar_t*>(g_service.name.c_str()), ServiceMain}, {nullptr, nullptr}};
    if (!StartServiceCtrlDispatcherW(table)) {
      err_ = GetLastError();
      op_ = "StartServiceCtrlDispatcher";
      SetError(op_);
    } else if (g_service.registerError != NO_ERROR) {
      err_ = g_service.registerError;
      op_ = "RegisterServiceCtrlHandlerEx";
      SetError(op_);
    }
  }
  void OnOK() override {
    Release();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error&) override {
    Release();
    deferred_.Reject(HResultError(Env(), static_cast<uint32_t>(HRESULT_FROM_WIN32(err_)), op_).Value());
  }

 private:
  static void Release() {
    g_service.onStart.Release();
    g_service.onStop.Release();
  }
  Napi::Promise::Deferred deferred_;
  DWORD err_ = 0;
  const char* op_ = "";
};

Napi::Value RunAsService(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsFunction() || !info[2].IsFunction() || g_service.running) {
    Napi::TypeError::New(env, "runAsService(name, onStart, onStop) (once per process)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g_service.running = true;
  g_service.name = Str(info, 0);
  g_service.stopped = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  g_service.onStart = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "service start", 0, 1);
  g_service.onStop = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "service stop", 0, 1);
  auto* w = new DispatcherWorker(env);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// serviceRunning(): JavaScript has subscribed; the service reports RUNNING.
Napi::Value ServiceRunning(const Napi::CallbackInfo& info) {
  Report(SERVICE_RUNNING);
  return info.Env().Undefined();
}

// serviceStopped(hresult?): JavaScript has unsubscribed, or failed to start with that HRESULT;
// the service reports STOPPED (a failure as ERROR_SERVICE_SPECIFIC_ERROR with the HRESULT, which
// `sc query` and the System event log show) and the dispatcher returns.
Napi::Value ServiceStopped(const Napi::CallbackInfo& info) {
  const uint32_t hr = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  {
    std::lock_guard<std::mutex> lock(g_service.m);
    g_service.status.dwWin32ExitCode = hr == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    g_service.status.dwServiceSpecificExitCode = hr;
  }
  if (g_service.stopped != nullptr) SetEvent(g_service.stopped);
  return info.Env().Undefined();
}

// reportServiceEvent(name, isError, message): one entry in the Application event log under the
// service's name, so that an operator sees why the service did not start.
Napi::Value ReportServiceEvent(const Napi::CallbackInfo& info) {
  const std::wstring name = Str(info, 0), message = Str(info, 2);
  const bool isError = info.Length() > 1 && info[1].ToBoolean().Value();
  HANDLE source = RegisterEventSourceW(nullptr, name.c_str());
  if (source != nullptr) {
    const wchar_t* strings[] = {message.c_str()};
    ReportEventW(source, isError ? EVENTLOG_ERROR_TYPE : EVENTLOG_INFORMATION_TYPE, 0, 0, nullptr, 1, 0, strings, nullptr);
    DeregisterEventSource(source);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterServiceExports(Napi::Env env, Napi::Object exports) {
  exports.Set("createService", Napi::Function::New(env, CreateServiceFn, "createService"));
  exports.Set("deleteService", Napi::Function::New(env, DeleteServiceFn, "deleteService"));
  exports.Set("runAsService", Napi::Function::New(env, RunAsService, "runAsService"));
  exports.Set("serviceRunning", Napi::Function::New(env, ServiceRunning, "serviceRunning"));
  exports.Set("serviceStopped", Napi::Function::New(env, ServiceStopped, "serviceStopped"));
  exports.Set("reportServiceEvent", Napi::Function::New(env, ReportServiceEvent, "reportServiceEvent"));
  exports.Set("startService", Napi::Function::New(env, StartServiceFn, "startService"));
}

}  // namespace win
}  // namespace mbam
