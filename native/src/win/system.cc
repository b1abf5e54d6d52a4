// Service Control Manager and token checks for install's preflight: is the SQL Server VSS writer
// service there and running, and may this process register writers (elevated, and a member of
// Administrators or Backup Operators).
#include <napi.h>
#include <windows.h>

#include "common/errors.h"
#include "win/com.h"
#include "win/win.h"

namespace mbam {
namespace win {
namespace {

const char* ServiceStateName(DWORD s) {
  switch (s) {
    case SERVICE_STOPPED: return "stopped";
    case SERVICE_START_PENDING: return "start-pending";
    case SERVICE_STOP_PENDING: return "stop-pending";
    case SERVICE_RUNNING: return "running";
    case SERVICE_CONTINUE_PENDING: return "continue-pending";
    case SERVICE_PAUSE_PENDING: return "pause-pending";
    case SERVICE_PAUSED: return "paused";
    default: return "unknown";
  }
}

// serviceState(name) -> { exists, state }. Throws an HRESULT error when the SCM cannot be asked.
Napi::Value ServiceState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "serviceState(name: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::wstring name = Utf8ToWide(info[0].As<Napi::String>().Utf8Value());
  Napi::Object out = Napi::Object::New(env);
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (scm == nullptr) {
    HResultError(env, static_cast<uint32_t>(HRESULT_FROM_WIN32(GetLastError())), "OpenSCManager").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SC_HANDLE svc = OpenServiceW(scm, name.c_str(), SERVICE_QUERY_STATUS);
  if (svc == nullptr) {
    const DWORD err = GetLastError();
    CloseServiceHandle(scm);
    if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
      out.Set("exists", false);
      out.Set("state", "absent");
      return out;
    }
    HResultError(env, static_cast<uint32_t>(HRESULT_FROM_WIN32(err)), "OpenService").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SERVICE_STATUS_PROCESS status{};
  DWORD needed = 0;
  const BOOL ok = QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, reinterpret_cast<LPBYTE>(&status), sizeof status, &needed);
  const DWORD err = GetLastError();
  CloseServiceHandle(svc);
  CloseServiceHandle(scm);
  if (!ok) {
    HResultError(env, static_cast<uint32_t>(HRESULT_FROM_WIN32(err)), "QueryServiceStatusEx").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  out.Set("exists", true);
  out.Set("state", ServiceStateName(status.dwCurrentState));
  return out;
}

bool IsMember(DWORD rid) {
  SID_IDENTIFIER_AUTHORITY nt = SECURITY_NT_AUTHORITY;
  PSID sid = nullptr;
  if (!AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, rid, 0, 0, 0, 0, 0, 0, &sid)) return false;
  BOOL member = FALSE;
  const BOOL ok = CheckTokenMembership(nullptr, sid, &member);
  FreeSid(sid);
  return ok && member;
}

bool IsElevated() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  TOKEN_ELEVATION elevation{};
  DWORD size = 0;
  const BOOL ok = GetTokenInformation(token, TokenElevation, &elevation, sizeof elevation, &size);
  CloseHandle(token);
  return ok && elevation.TokenIsElevated != 0;
}

Napi::Value Privileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("elevated", IsElevated());
  out.Set("administrators", IsMember(DOMAIN_ALIAS_RID_ADMINS));
  out.Set("backupOperators", IsMember(DOMAIN_ALIAS_RID_BACKUP_OPS));
  return out;
}

}  // namespace

void RegisterSystemExports(Napi::Env env, Napi::Object exports) {
  exports.Set("serviceState", Napi::Function::New(env, ServiceState, "serviceState"));
  exports.Set("privileges", Napi::Function::New(env, Privileges, "privileges"));
}

bool ElevatedForCapabilities() { return IsElevated(); }

}  // namespace win
}  // namespace mbam
