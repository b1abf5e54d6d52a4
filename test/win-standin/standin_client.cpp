// Test-only driver for the vssapi.dll stand-in: a writer that subclasses the SDK's CVssWriter
// (cvsswriter_sdk.h, compiled by clang for the MSVC ABI -- a correct writer by construction),
// an express-writer registrar and a small requester. Behaviour chosen by STANDIN_CLIENT_MODE
// (writer | express | cancel) and CLIENT_* variables; everything observable is logged by the
// stand-in itself, the client only adds "client.*" notes through its own log lines.
#include "cvsswriter_sdk.h"
#include "standin_rt.h"

using namespace rt;

void* operator new(SIZE_T n) { return alloc(n); }
void operator delete(void* p) noexcept { rt::free(p); }
void operator delete(void* p, SIZE_T) noexcept { rt::free(p); }
extern "C" int __cdecl _purecall() { ExitProcess(0xDEAD); return 0; }
extern "C" __declspec(dllimport) HRESULT WINAPI CreateVssExpressWriterInternal(IVssExpressWriter** ppWriter);
extern "C" __declspec(dllimport) HRESULT WINAPI CreateVssBackupComponentsInternal(IVssBackupComponents** pp);
extern "C" __declspec(dllimport) BOOL WINAPI StandinWaitScenarioDone(DWORD ms);
// Legacy exports: called from standin_legacy_client.cpp (a separate TU: the mangled names of the
// old out-of-line CVssWriter members equal those of this TU's inline SDK members).
extern "C" int runLegacy(void (*note)(const char*, HRESULT));

static HANDLE g_out = nullptr;  // %STANDIN_CLIENT_LOG% (JSON lines)
static void note(const char* what, HRESULT hr, const wchar_t* detail = nullptr) {
  if (!g_out) return;
  Buf b{}; b.add("{\"client\":"); b.json_cstr(what); b.add(",\"hr\":\""); b.hex32((unsigned long)hr); b.add("\"");
  if (detail) { b.add(",\"detail\":"); b.json_str(detail); }
  b.add(",\"tid\":"); b.num(GetCurrentThreadId()); b.add("}\n");
  DWORD w; WriteFile(g_out, b.p, (DWORD)b.n, &w, nullptr); b.release();
}
static bool envIs(const wchar_t* name, const wchar_t* value) { wchar_t* v = env(name); bool r = v && weq(v, value); rt::free(v); return r; }
static DWORD envNum(const wchar_t* name, DWORD dflt) {
  wchar_t* v = env(name); if (!v) return dflt;
  DWORD n = 0; for (wchar_t* p = v; *p >= L'0' && *p <= L'9'; ++p) n = n * 10 + (*p - L'0');
  rt::free(v); return n;
}

static const VSS_ID kWriterId = {0x6d8a1e3f, 0x2b4c, 0x4e5d, {0x9a, 0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61}};
static const VSS_ID kExpressId = {0x0b1e55ed, 0x5ea1, 0x4d00, {0x8e, 0x77, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}};

class TestWriter : public CVssWriter {
 public:
  LONG identifies = 0;
  bool veto(const wchar_t* ev) {
    if (envIs(L"CLIENT_UNSUBSCRIBE_IN", ev)) note("UnsubscribeFromHandler", Unsubscribe());  // deadlocks on a naive VSS
    if (!envIs(L"CLIENT_VETO", ev)) return true;
    // Identify is failed by returning false alone: SetWriterFailure "cannot be called from OnIdentify" (Learn).
    if (!envIs(L"CLIENT_VETO_NOSWF", L"1") && !weq(ev, L"Identify")) SetWriterFailure(VSS_E_WRITERERROR_RETRYABLE);
    return false;
  }
  VSS_ID snapshotSetIdProbe() const { return GetCurrentSnapshotSetId(); }
  void probeSnapshotSetId() { if (envIs(L"CLIENT_SSID_PROBE", L"1")) GetCurrentSnapshotSetId(); }
  // CLIENT_METADATA_PROBE: backup metadata written in PrepareForBackup must survive into later events.
  void probeMetadata(IVssWriterComponents* c, bool set) {
    UINT n = 0;
    if (!envIs(L"CLIENT_METADATA_PROBE", L"1") || !c || c->GetComponentCount(&n) != S_OK) return;
    for (UINT i = 0; i < n; ++i) {
      IVssComponent* comp = nullptr;
      if (c->GetComponent(i, &comp) != S_OK) continue;
      if (set) note("SetBackupMetadata.again", comp->SetBackupMetadata(L"stamp-2"));
      BSTR md = nullptr; HRESULT hr = comp->GetBackupMetadata(&md); note(set ? "GetBackupMetadata.PostSnapshot" : "GetBackupMetadata.BackupComplete", hr, md); SysFreeString(md);
      BSTR st = nullptr; hr = comp->GetBackupStamp(&st); note("GetBackupStamp", hr, st); SysFreeString(st);
      comp->Release();
    }
  }
  bool STDMETHODCALLTYPE OnIdentify(IVssCreateWriterMetadata* md) override {
    LONG nth = InterlockedIncrement(&identifies);
    if (envIs(L"CLIENT_SWF_IN_IDENTIFY", L"1")) SetWriterFailure(VSS_E_WRITERERROR_NONRETRYABLE);  // not allowed (Learn)
    md->AddComponent(VSS_CT_FILEGROUP, L"MBAM", L"RecoveryDB", L"MBAM recovery", nullptr, 0, false, false, true);
    md->AddFilesToFileGroup(L"MBAM", L"RecoveryDB", L"C:\\data", L"*.mdf", false, nullptr);
    md->AddComponentDependency(L"MBAM", L"RecoveryDB", kExpressId, nullptr, L"Certs");
    md->SetRestoreMethod(VSS_RME_RESTORE_IF_CAN_REPLACE, nullptr, nullptr, (VSS_WRITERRESTORE_ENUM)envNum(L"CLIENT_WRE", VSS_WRE_ALWAYS), false);
    md->SetBackupSchema(VSS_BS_COPY);
    DWORD vetoFrom = envNum(L"CLIENT_IDENTIFY_VETO_FROM", 0);  // fail the nth Identify and later ones
    if (vetoFrom && (DWORD)nth >= vetoFrom) return false;
    return veto(L"Identify");
  }
  bool STDMETHODCALLTYPE OnPrepareBackup(IVssWriterComponents* c) override {
    // S_OK = "The writer was successful" (Learn SetWriterFailureEx; CVssWriterEx2 method, reached via the impl).
    if (envIs(L"CLIENT_SWF_OK", L"1")) m_pWriterImpl->SetWriterFailureEx(S_OK, E_ACCESSDENIED, L"app says fine");
    GetBackupType(); GetContext(); AreComponentsSelected();
    VSS_ID s = GetCurrentSnapshotSetId();
    Buf b{}; b.guid(s); wchar_t* w = utf8_to_wide(b.p); note("snapshotSetIdSeenByWriter", S_OK, w); rt::free(w); b.release();
    UINT n = 0;
    if (c && c->GetComponentCount(&n) == S_OK) {
      for (UINT i = 0; i < n; ++i) {
        IVssComponent* comp = nullptr;
        if (c->GetComponent(i, &comp) == S_OK) {
          BSTR name = nullptr; comp->GetComponentName(&name); note("componentSeen", S_OK, name); SysFreeString(name);
          comp->SetBackupMetadata(L"stamp-1");
          comp->SetBackupStamp(L"lsn-1");
          comp->Release();
        }
      }
    }
    return veto(L"PrepareForBackup");
  }
  bool STDMETHODCALLTYPE OnPrepareSnapshot() override {
    if (envIs(L"CLIENT_SWF_OK", L"1")) SetWriterFailure(S_OK);
    return veto(L"PrepareForSnapshot");
  }
  static DWORD WINAPI foreign(void* self) { ((TestWriter*)self)->SetWriterFailure(VSS_E_WRITERERROR_RETRYABLE); return 0; }
  bool STDMETHODCALLTYPE OnFreeze() override {
    if (envIs(L"CLIENT_FOREIGN_SWF", L"1")) {  // wrong: SetWriterFailure from another thread (Learn)
      HANDLE t = CreateThread(nullptr, 0, &TestWriter::foreign, this, 0, nullptr);
      WaitForSingleObject(t, INFINITE); CloseHandle(t);
    }
    DWORD ms = envNum(L"CLIENT_FREEZE_SLEEP", 0);
    if (ms) Sleep(ms);
    return veto(L"Freeze");
  }
  bool STDMETHODCALLTYPE OnThaw() override {
    DWORD ms = envNum(L"CLIENT_THAW_SLEEP", 0);  // a slow OnThaw: not part of the Freeze->Thaw window
    if (ms) Sleep(ms);
    return veto(L"Thaw");
  }
  bool STDMETHODCALLTYPE OnAbort() override { note("OnAbort", S_OK); return true; }
  bool STDMETHODCALLTYPE OnPostSnapshot(IVssWriterComponents* c) override { probeMetadata(c, true); return veto(L"PostSnapshot"); }
  bool STDMETHODCALLTYPE OnBackupComplete(IVssWriterComponents* c) override { probeMetadata(c, false); probeSnapshotSetId(); return veto(L"BackupComplete"); }
  bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID id) override {
    Buf b{}; b.guid(id); wchar_t* w = utf8_to_wide(b.p); note("OnBackupShutdown", S_OK, w); rt::free(w); b.release();
    probeSnapshotSetId();
    return veto(L"BackupShutdown");
  }
  bool STDMETHODCALLTYPE OnPreRestore(IVssWriterComponents*) override { return veto(L"PreRestore"); }
  bool STDMETHODCALLTYPE OnPostRestore(IVssWriterComponents*) override { return veto(L"PostRestore"); }
};

static int runWriter() {
  TestWriter* w = new TestWriter();
  HRESULT hr = w->Initialize(kWriterId, L"MbamStandinTestWriter", VSS_UT_USERDATA, VSS_ST_TRANSACTEDDB, VSS_APP_BACK_END,
                             envNum(L"CLIENT_TIMEOUT_FREEZE", 60000));
  note("Initialize", hr);
  if (FAILED(hr)) return 2;
  hr = w->Subscribe();
  note("Subscribe", hr);
  if (FAILED(hr)) return 3;
  BOOL done = StandinWaitScenarioDone(envNum(L"CLIENT_WAIT_MS", 60000));
  note("scenarioDone", done ? S_OK : S_FALSE);
  if (envIs(L"CLIENT_SSID_PROBE", L"1")) w->snapshotSetIdProbe();  // outside any handler
  if (envIs(L"CLIENT_REQUESTER", L"1")) {  // requester in the same process: gather metadata + status from the subscribed writer
    IVssBackupComponents* bc = nullptr;
    CreateVssBackupComponentsInternal(&bc);
    bc->InitializeForBackup();
    bc->SetBackupState(true, true, VSS_BT_FULL, false);
    IVssAsync* a = nullptr; HRESULT st = 0;
    note("GatherWriterMetadata", bc->GatherWriterMetadata(&a)); a->Wait(); a->QueryStatus(&st, nullptr); note("gatherStatus", st); a->Release();
    UINT n = 0; bc->GetWriterMetadataCount(&n); note("writerMetadataCount", (HRESULT)n);
    note("GatherWriterStatus", bc->GatherWriterStatus(&a)); a->Wait(); a->Release();
    bc->GetWriterStatusCount(&n);
    for (UINT i = 0; i < n; ++i) { VSS_ID inst, id; BSTR name = nullptr; VSS_WRITER_STATE s; HRESULT f; bc->GetWriterStatus(i, &inst, &id, &name, &s, &f); note("writerStatus", (HRESULT)s, name); SysFreeString(name); }
    bc->Release();
  }
  hr = w->Unsubscribe();
  note("Unsubscribe", hr);
  delete w;  // SDK ~CVssWriter: Uninitialize + Release
  return 0;
}

static int runExpress() {
  IVssExpressWriter* ew = nullptr;
  HRESULT hr = CreateVssExpressWriterInternal(&ew);
  note("CreateVssExpressWriterInternal", hr);
  if (FAILED(hr)) return 2;
  IVssCreateExpressWriterMetadata* md = nullptr;
  note("CreateMetadata.usageOther", ew->CreateMetadata(kExpressId, L"MbamExpress", VSS_UT_OTHER, 1, 0, 0, &md));
  note("CreateMetadata", ew->CreateMetadata(kExpressId, L"MbamExpress", VSS_UT_USERDATA, 1, 0, 0, &md));
  note("AddComponent.database", md->AddComponent(VSS_CT_DATABASE, nullptr, L"Db", nullptr, nullptr, 0, false, false, true));
  note("AddComponent.notify", md->AddComponent(VSS_CT_FILEGROUP, nullptr, L"Certs", nullptr, nullptr, 0, false, true, true));
  note("AddComponent", md->AddComponent(VSS_CT_FILEGROUP, nullptr, L"Certs", L"MBAM certificates", nullptr, 0, false, false, true));
  note("AddComponent.duplicate", md->AddComponent(VSS_CT_FILEGROUP, nullptr, L"Certs", nullptr, nullptr, 0, false, false, true));
  note("AddFilesToFileGroup.alternate", md->AddFilesToFileGroup(nullptr, L"Certs", L"C:\\certs", L"*.pfx", false, L"D:\\alt"));
  note("AddFilesToFileGroup.missing", md->AddFilesToFileGroup(nullptr, L"Nope", L"C:\\certs", L"*.pfx", false, nullptr));
  note("AddFilesToFileGroup", md->AddFilesToFileGroup(nullptr, L"Certs", L"C:\\certs", L"*.pfx", true, nullptr));
  note("SetRestoreMethod.custom", md->SetRestoreMethod(VSS_RME_CUSTOM, nullptr, nullptr, VSS_WRE_NEVER, false));
  note("SetRestoreMethod.always", md->SetRestoreMethod(VSS_RME_RESTORE_IF_CAN_REPLACE, nullptr, nullptr, VSS_WRE_ALWAYS, false));
  note("SetRestoreMethod", md->SetRestoreMethod(VSS_RME_RESTORE_IF_CAN_REPLACE, nullptr, nullptr, VSS_WRE_NEVER, false));
  note("SetBackupSchema.differential", md->SetBackupSchema(0x1));
  note("SetBackupSchema", md->SetBackupSchema(VSS_BS_COPY));
  note("AddComponentDependency", md->AddComponentDependency(nullptr, L"Certs", kWriterId, L"MBAM", L"RecoveryDB"));
  BSTR xml = nullptr; note("SaveAsXML", md->SaveAsXML(&xml), xml); SysFreeString(xml);
  note("Unregister.absent", ew->Unregister(kExpressId));
  note("Register", ew->Register());
  note("Register.again", ew->Register());
  // Requester: the registration must show up in GatherWriterMetadata.
  IVssBackupComponents* bc = nullptr;
  note("CreateVssBackupComponentsInternal", CreateVssBackupComponentsInternal(&bc));
  IVssAsync* a = nullptr;
  note("GatherWriterMetadata.uninitialized", bc->GatherWriterMetadata(&a));
  note("InitializeForBackup", bc->InitializeForBackup());
  note("SetBackupState", bc->SetBackupState(true, true, VSS_BT_FULL, false));
  note("GatherWriterMetadata", bc->GatherWriterMetadata(&a));
  note("Wait", a->Wait());
  HRESULT st = 0; a->QueryStatus(&st, nullptr); note("QueryStatus", st);
  note("Cancel.afterFinish", a->Cancel());
  a->Release();
  IVssAsync* a2 = nullptr;
  note("GatherWriterMetadata.again", bc->GatherWriterMetadata(&a2));  // Learn: only once per object
  if (a2) { a2->Wait(); a2->Release(); }
  UINT n = 0; note("GetWriterMetadataCount", bc->GetWriterMetadataCount(&n)); note("writerMetadataCount", (HRESULT)n);
  for (UINT i = 0; i < n; ++i) {
    VSS_ID inst; IVssExamineWriterMetadata* em = nullptr;
    if (bc->GetWriterMetadata(i, &inst, &em) == S_OK) {
      VSS_ID iid, wid; BSTR name = nullptr; VSS_USAGE_TYPE u; VSS_SOURCE_TYPE s;
      em->GetIdentity(&iid, &wid, &name, &u, &s); note("examine.identity", (HRESULT)u, name); SysFreeString(name);
      BSTR x = nullptr; em->SaveAsXML(&x); note("examine.xml", S_OK, x); SysFreeString(x);
      em->Release();
    }
  }
  bc->Release();
  note("Unregister", ew->Unregister(kExpressId));
  note("Unregister.again", ew->Unregister(kExpressId));
  IVssExpressWriter* ew2 = nullptr; CreateVssExpressWriterInternal(&ew2);
  note("LoadMetadata.database", ew2->LoadMetadata(L"<WRITER_METADATA><IDENTIFICATION writerId=\"0B1E55ED-5EA1-4D00-8E77-112233445566\" usage=\"USER_DATA\"/><BACKUP_LOCATIONS><DATABASE componentName=\"x\"/></BACKUP_LOCATIONS></WRITER_METADATA>", 0));
  note("Register.nothingLoaded", ew2->Register());
  ew2->Release();
  md->Release();
  ew->Release();
  return 0;
}

static int runCancel() {
  IVssBackupComponents* bc = nullptr;
  CreateVssBackupComponentsInternal(&bc);
  bc->InitializeForBackup();
  bc->SetBackupState(true, true, VSS_BT_FULL, false);
  IVssAsync* a = nullptr;
  note("GatherWriterMetadata", bc->GatherWriterMetadata(&a));
  note("Wait.timeout", a->Wait(envNum(L"CLIENT_WAIT_MS", 300)));
  HRESULT st = 0; a->QueryStatus(&st, nullptr); note("QueryStatus.beforeCancel", st);
  note("Cancel", a->Cancel());
  a->QueryStatus(&st, nullptr); note("QueryStatus.afterCancel", st);
  note("Cancel.again", a->Cancel());
  a->Release();
  DWORD lateMs = envNum(L"CLIENT_AFTER_CANCEL_SLEEP", 0);  // let a delayed gather finish after Cancel
  if (lateMs) Sleep(lateMs);
  UINT n = 0; note("GetWriterMetadataCount.afterCancel", bc->GetWriterMetadataCount(&n));
  bc->Release();
  return 0;
}

static void noteHr(const char* what, HRESULT hr) { note(what, hr); }

extern "C" int clientMain() {
  wchar_t* out = env(L"STANDIN_CLIENT_LOG");
  if (out) { g_out = CreateFileW(out, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr); rt::free(out); }
  int rc = envIs(L"STANDIN_CLIENT_MODE", L"express") ? runExpress() : envIs(L"STANDIN_CLIENT_MODE", L"cancel") ? runCancel()
           : envIs(L"STANDIN_CLIENT_MODE", L"legacy") ? runLegacy(&noteHr) : runWriter();
  note("exit", rc);
  ExitProcess(rc);
  return rc;
}
