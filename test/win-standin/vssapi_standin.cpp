// Test-only stand-in for vssapi.dll, built by clang for the MSVC C++ ABI and loaded under Wine in
// place of Wine's stub vssapi.dll. It models what Microsoft DOCUMENTS vssapi.dll and the VSS
// service do toward a writer (CreateWriter / IVssWriterImpl / CVssWriter events), an express
// writer (CreateVssExpressWriterInternal) and a requester (CreateVssBackupComponentsInternal).
// Every behaviour cites its source; "CHOICE:" marks where the docs are silent and this model
// picked. See README.md for the scenario and log formats.
//
// No CRT: kernel32/oleaut32 only (+ memcpy/memset from msvcrt). No static constructors.
#define VSS_STANDIN_CREATEWRITER_DECL __declspec(dllexport)
#include "cvsswriter_sdk.h"
#include "standin_rt.h"

using namespace rt;

void* operator new(SIZE_T n) { return alloc(n); }
void operator delete(void* p) noexcept { rt::free(p); }
void operator delete(void* p, SIZE_T) noexcept { rt::free(p); }
extern "C" int __cdecl _purecall() { ExitProcess(0xDEAD); return 0; }

// ---------------------------------------------------------------------------------------------
// Log: JSON lines to %MBAM_STANDIN_LOG%.
static CRITICAL_SECTION g_cs;        // guards all shared state below
static CRITICAL_SECTION g_logcs;
static HANDLE g_log = nullptr;
static unsigned long long g_t0 = 0;
static LONG g_seq = 0;

struct Rec {  // one JSON object; call done() to append it as one line
  Buf b;
  explicit Rec(const char* ev) : b{} {
    b.add("{\"seq\":"); b.num(InterlockedIncrement(&g_seq));
    b.add(",\"ms\":"); b.num((long long)(GetTickCount64() - g_t0));
    b.add(",\"tid\":"); b.num(GetCurrentThreadId());
    b.add(",\"ev\":"); b.json_cstr(ev);
  }
  Rec& key(const char* k) { b.add(",\""); b.add(k); b.add("\":"); return *this; }
  Rec& s(const char* k, const wchar_t* v) { key(k); b.json_str(v); return *this; }
  Rec& c(const char* k, const char* v) { key(k); if (v) b.json_cstr(v); else b.add("null"); return *this; }
  Rec& n(const char* k, long long v) { key(k); b.num(v); return *this; }
  Rec& h(const char* k, HRESULT v) { key(k); b.ch('"'); b.hex32((unsigned long)v); b.ch('"'); return *this; }
  Rec& t(const char* k, bool v) { key(k); b.add(v ? "true" : "false"); return *this; }
  Rec& g(const char* k, const GUID& v) { key(k); b.ch('"'); b.guid(v); b.ch('"'); return *this; }
  Rec& raw(const char* k, const char* json) { key(k); b.add(json); return *this; }
  void done() {
    b.add("}\n");
    EnterCriticalSection(&g_logcs);
    if (g_log) { DWORD w; WriteFile(g_log, b.p, (DWORD)b.n, &w, nullptr); }
    LeaveCriticalSection(&g_logcs);
    b.release();
  }
};

// ---------------------------------------------------------------------------------------------
// Events. Names are the VSS event names (Learn: "Overview of Processing a Backup Under VSS").
enum Ev { EV_IDENTIFY, EV_PREPARE_BACKUP, EV_PREPARE_SNAPSHOT, EV_FREEZE, EV_THAW, EV_POST_SNAPSHOT, EV_BACKUP_COMPLETE,
          EV_BACKUP_SHUTDOWN, EV_PRE_RESTORE, EV_POST_RESTORE, EV_ABORT, EV_COUNT, EV_NONE = -1 };
static const char* const kEvName[EV_COUNT] = {"Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw", "PostSnapshot",
                                              "BackupComplete", "BackupShutdown", "PreRestore", "PostRestore", "Abort"};
// VSS_WRITER_STATE for a failure in each event (vss.h / Learn "VSS_WRITER_STATE").
static const VSS_WRITER_STATE kFailState[EV_COUNT] = {
    VSS_WS_FAILED_AT_IDENTIFY, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, VSS_WS_FAILED_AT_FREEZE,
    VSS_WS_FAILED_AT_THAW, VSS_WS_FAILED_AT_POST_SNAPSHOT, VSS_WS_FAILED_AT_BACKUP_COMPLETE, VSS_WS_FAILED_AT_BACKUPSHUTDOWN,
    VSS_WS_FAILED_AT_PRE_RESTORE, VSS_WS_FAILED_AT_POST_RESTORE, VSS_WS_UNKNOWN};
static const char* const kStateName[] = {"VSS_WS_UNKNOWN", "VSS_WS_STABLE", "VSS_WS_WAITING_FOR_FREEZE", "VSS_WS_WAITING_FOR_THAW",
    "VSS_WS_WAITING_FOR_POST_SNAPSHOT", "VSS_WS_WAITING_FOR_BACKUP_COMPLETE", "VSS_WS_FAILED_AT_IDENTIFY", "VSS_WS_FAILED_AT_PREPARE_BACKUP",
    "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT", "VSS_WS_FAILED_AT_FREEZE", "VSS_WS_FAILED_AT_THAW", "VSS_WS_FAILED_AT_POST_SNAPSHOT",
    "VSS_WS_FAILED_AT_BACKUP_COMPLETE", "VSS_WS_FAILED_AT_PRE_RESTORE", "VSS_WS_FAILED_AT_POST_RESTORE", "VSS_WS_FAILED_AT_BACKUPSHUTDOWN"};

static int ev_from(const char* s) {
  for (int i = 0; i < EV_COUNT; ++i) if (ceq(s, kEvName[i])) return i;
  return EV_NONE;
}

// ---------------------------------------------------------------------------------------------
// Scenario (%MBAM_STANDIN_SCENARIO%): one directive per line, see README.md.
struct Step {
  int kind;              // 0 identify, 1 backup, 2 restore, 3 wait, 4 waitUnsubscribe
  DWORD ms;              // wait
  DWORD freezeHold;      // backup: ms between OnFreeze returning and Thaw being sent
  int identifyAfter;     // backup: Identify delivered after this event (mid-backup)
  int abortAfter;        // backup: requester AbortBackup after this event
  int failAfter;         // backup: provider/VSS failure after this event
};
// backupMetadata/stamp: what the writer stored through IVssComponent during the current backup.
// Learn IVssComponent::SetBackupMetadata: VSS_E_OBJECT_ALREADY_EXISTS "The backup metadata has
// already been written" -- per component, so it is kept here (for the whole backup, reset when the
// next backup starts), not in the per-event IVssComponent wrapper; GetBackupMetadata/GetBackupStamp
// in later events (and in a later restore) return it.
struct ScComp { VSS_COMPONENT_TYPE type; wchar_t* lp; wchar_t* name; wchar_t* backupMetadata; wchar_t* stamp; };
struct Scenario {
  VSS_ID snapshotSetId;
  VSS_BACKUP_TYPE backupType;
  VSS_RESTORE_TYPE restoreType;
  LONG context;
  bool componentsSelected, bootable, partial, shuttingDown;
  bool gatherNever;  // GatherWriterMetadata/GatherWriterStatus never complete (caller must Cancel)
  DWORD gatherDelay; // `gather delay <ms>`: the gather finishes only after ms (to Cancel it first)
  int onUnsubscribe; // event delivered while Unsubscribe runs
  bool doubleAbort;  // `set doubleAbort 1`: every Abort is delivered twice (aborting-vss-operations.md)
  bool restoreEventsDespiteNever;  // `set restoreEventsDespiteNever 1`: restore events even for VSS_WRE_NEVER
  bool restoreFailed;  // `set restoreFailed 1`: the requester's file restore failed (VSS_WRE_IF_REPLACE_FAILS)
  HRESULT waitTimeoutHr;  // `set waitTimeoutHr 0x...`: what IVssAsync::Wait returns when it times out (docs silent)
  Vec<Step> steps;
  Vec<ScComp> comps;
  Vec<wchar_t*> volumes;
};
static Scenario g_sc;
static bool g_sc_loaded = false;

static bool parse_guid(const char* s, GUID* g) {
  auto hv = [](char c) -> int { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  if (*s == '{') ++s;
  int digits[32], k = 0;
  for (; *s && *s != '}' && k < 32; ++s) { if (*s == '-') continue; int v = hv(*s); if (v < 0) return false; digits[k++] = v; }
  if (k != 32) return false;
  auto take = [&](int from, int cnt) { unsigned long long v = 0; for (int i = 0; i < cnt; ++i) v = v * 16 + digits[from + i]; return v; };
  g->Data1 = (unsigned long)take(0, 8); g->Data2 = (unsigned short)take(8, 4); g->Data3 = (unsigned short)take(12, 4);
  for (int i = 0; i < 8; ++i) g->Data4[i] = (unsigned char)take(16 + 2 * i, 2);
  return true;
}
static long long parse_int(const char* s) {
  bool neg = *s == '-'; if (neg) ++s;
  long long v = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {  // hex, for HRESULTs
    for (s += 2;; ++s) {
      int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
      if (d < 0) break;
      v = v * 16 + d;
    }
  } else {
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  }
  return neg ? -v : v;
}

static void load_scenario() {
  if (g_sc_loaded) return;
  g_sc_loaded = true;
  // Defaults. CHOICE: a FULL backup with components selected, like vshadow's
  // SetBackupState(true, true, VSS_BT_FULL, false).
  memset(&g_sc, 0, sizeof g_sc);
  parse_guid("5a3b4c1d-0000-4000-8000-00000000c0de", &g_sc.snapshotSetId);
  g_sc.backupType = VSS_BT_FULL; g_sc.restoreType = VSS_RTYPE_BY_COPY; g_sc.componentsSelected = true; g_sc.onUnsubscribe = EV_NONE;
  wchar_t* path = env(L"MBAM_STANDIN_SCENARIO");
  char* text = path ? read_file(path, nullptr) : nullptr;
  Rec r("scenario"); r.s("path", path).t("loaded", text != nullptr);
  rt::free(path);
  if (!text) { Step& s = g_sc.steps.push(); s.kind = 4; r.done(); return; }
  int nsteps = 0;
  for (char* line = text; *line;) {
    char* end = line; while (*end && *end != '\n') ++end;
    char* next = *end ? end + 1 : end; *end = 0;
    if (end > line && end[-1] == '\r') end[-1] = 0;
    char* tok[8]; int nt = 0;
    for (char* p = line; *p && nt < 8;) {
      while (*p == ' ' || *p == '\t') *p++ = 0;
      if (!*p || *p == '#') break;
      tok[nt++] = p; while (*p && *p != ' ' && *p != '\t') ++p;
    }
    if (nt >= 3 && ceq(tok[0], "set")) {
      const char* k = tok[1]; const char* v = tok[2];
      if (ceq(k, "snapshotSetId")) parse_guid(v, &g_sc.snapshotSetId);
      else if (ceq(k, "backupType")) g_sc.backupType = (VSS_BACKUP_TYPE)parse_int(v);
      else if (ceq(k, "restoreType")) g_sc.restoreType = (VSS_RESTORE_TYPE)parse_int(v);
      else if (ceq(k, "context")) g_sc.context = (LONG)parse_int(v);
      else if (ceq(k, "componentsSelected")) g_sc.componentsSelected = parse_int(v) != 0;
      else if (ceq(k, "bootableSystemState")) g_sc.bootable = parse_int(v) != 0;
      else if (ceq(k, "partialFileSupport")) g_sc.partial = parse_int(v) != 0;
      else if (ceq(k, "shuttingDown")) g_sc.shuttingDown = parse_int(v) != 0;
      else if (ceq(k, "doubleAbort")) g_sc.doubleAbort = parse_int(v) != 0;
      else if (ceq(k, "restoreEventsDespiteNever")) g_sc.restoreEventsDespiteNever = parse_int(v) != 0;
      else if (ceq(k, "restoreFailed")) g_sc.restoreFailed = parse_int(v) != 0;
      else if (ceq(k, "waitTimeoutHr")) g_sc.waitTimeoutHr = (HRESULT)(unsigned long)parse_int(v);
    } else if (nt >= 2 && ceq(tok[0], "gather")) {
      g_sc.gatherNever = ceq(tok[1], "never");
      if (ceq(tok[1], "delay") && nt >= 3) g_sc.gatherDelay = (DWORD)parse_int(tok[2]);
    } else if (nt >= 2 && ceq(tok[0], "onUnsubscribe")) {
      g_sc.onUnsubscribe = ev_from(tok[1]);
    } else if (nt >= 2 && ceq(tok[0], "volume")) {
      g_sc.volumes.push() = utf8_to_wide(tok[1]);
    } else if (nt >= 4 && ceq(tok[0], "component")) {
      ScComp& c = g_sc.comps.push();
      c.type = ceq(tok[1], "DATABASE") ? VSS_CT_DATABASE : VSS_CT_FILEGROUP;
      c.lp = ceq(tok[2], "-") ? nullptr : utf8_to_wide(tok[2]);
      c.name = utf8_to_wide(tok[3]);
    } else if (nt >= 2 && ceq(tok[0], "step")) {
      Step& s = g_sc.steps.push(); s.identifyAfter = s.abortAfter = s.failAfter = EV_NONE; ++nsteps;
      if (ceq(tok[1], "identify")) s.kind = 0;
      else if (ceq(tok[1], "backup")) s.kind = 1;
      else if (ceq(tok[1], "restore")) s.kind = 2;
      else if (ceq(tok[1], "wait")) { s.kind = 3; s.ms = nt > 2 ? (DWORD)parse_int(tok[2]) : 0; }
      else if (ceq(tok[1], "waitUnsubscribe")) s.kind = 4;
      for (int i = 2; i < nt; ++i) {
        char* eq = tok[i]; while (*eq && *eq != '=') ++eq;
        if (!*eq) continue; *eq++ = 0;
        if (ceq(tok[i], "freezeHold")) s.freezeHold = (DWORD)parse_int(eq);
        else if (ceq(tok[i], "identifyAfter")) s.identifyAfter = ev_from(eq);
        else if (ceq(tok[i], "abortAfter")) s.abortAfter = ev_from(eq);
        else if (ceq(tok[i], "failAfter")) s.failAfter = ev_from(eq);
      }
    }
    line = next;
  }
  r.n("steps", nsteps).n("components", g_sc.comps.n).t("gatherNever", g_sc.gatherNever).n("gatherDelay", g_sc.gatherDelay)
      .c("onUnsubscribe", g_sc.onUnsubscribe >= 0 ? kEvName[g_sc.onUnsubscribe] : nullptr).t("doubleAbort", g_sc.doubleAbort)
      .t("restoreEventsDespiteNever", g_sc.restoreEventsDespiteNever).t("restoreFailed", g_sc.restoreFailed).h("waitTimeoutHr", g_sc.waitTimeoutHr).done();
  rt::free(text);
}

// ---------------------------------------------------------------------------------------------
// Writer metadata model shared by IVssCreateWriterMetadata (OnIdentify) and the express writer.
struct MFile { int kind; wchar_t* path; wchar_t* spec; bool recursive; wchar_t* alt; DWORD mask; };  // kind 0 FILE_LIST 1 DATABASE_FILES 2 DATABASE_LOGFILES
struct MDep { VSS_ID onWriter; wchar_t* onLp; wchar_t* onName; };
struct MComp {
  VSS_COMPONENT_TYPE type; wchar_t* lp; wchar_t* name; wchar_t* caption;
  bool restoreMetadata, notify, selectable, selectableForRestore; DWORD flags;
  Vec<MFile> files; Vec<MDep> deps;
};
struct Meta {
  VSS_ID writerId, instanceId; wchar_t* name; wchar_t* instanceName;
  VSS_USAGE_TYPE usage; VSS_SOURCE_TYPE source; DWORD major, minor;
  bool restoreSet; VSS_RESTOREMETHOD_ENUM method; wchar_t* service; VSS_WRITERRESTORE_ENUM writerRestore; bool reboot;
  DWORD schema;
  Vec<MComp> comps; Vec<MFile> include, exclude;
};
static MComp* find_comp(Meta* m, LPCWSTR lp, LPCWSTR name) {
  for (UINT i = 0; i < m->comps.n; ++i) if (weq(m->comps[i].lp, lp) && weq(m->comps[i].name, name)) return &m->comps[i];
  return nullptr;
}

// XML tokens. Verified against real documents in test/fixtures/vss-captures (diskshadow on
// Windows Server 2012): usage BOOTABLE_SYSTEM_STATE/SYSTEM_SERVICE/USER_DATA, dataSource
// TRANSACTION_DB/OTHER, method RESTORE_IF_CAN_BE_REPLACED/REPLACE_AT_REBOOT/
// REPLACE_AT_REBOOT_IF_CANNOT_REPLACE, writerRestore never/always. CHOICE (not seen in any
// capture, guessed): the remaining tokens below marked "?".
static const char* usage_tok(int u) { switch (u) { case 1: return "BOOTABLE_SYSTEM_STATE"; case 2: return "SYSTEM_SERVICE"; case 3: return "USER_DATA"; case 4: return "OTHER"; default: return "UNDEFINED"; /* ? */ } }
static const char* source_tok(int s) { switch (s) { case 1: return "TRANSACTION_DB"; case 2: return "NONTRANSACTION_DB"; /* ? */ case 3: return "OTHER"; default: return "UNDEFINED"; /* ? */ } }
static const char* method_tok(int m) {
  switch (m) {
    case 1: return "RESTORE_IF_NOT_THERE"; /* ? */ case 2: return "RESTORE_IF_CAN_BE_REPLACED"; case 3: return "STOP_RESTART_SERVICE"; /* ? */
    case 4: return "RESTORE_TO_ALTERNATE_LOCATION"; /* ? */ case 5: return "REPLACE_AT_REBOOT"; case 6: return "REPLACE_AT_REBOOT_IF_CANNOT_REPLACE";
    case 7: return "CUSTOM"; /* ? */ case 8: return "RESTORE_STOP_START"; /* ? */ default: return "UNDEFINED"; /* ? */
  }
}
static const char* wre_tok(int w) { switch (w) { case 1: return "never"; case 2: return "ifReplaceFails"; /* ? */ case 3: return "always"; default: return "undefined"; /* ? */ } }

static void xml_files(WBuf& x, Vec<MFile>& files, const char* indent) {
  static const char* const el[] = {"FILE_LIST", "DATABASE_FILES", "DATABASE_LOGFILES"};
  for (UINT i = 0; i < files.n; ++i) {
    MFile& f = files[i];
    x.addc(indent); x.addc("<"); x.addc(el[f.kind]);
    x.attr("path", f.path); x.attr("filespec", f.spec);
    if (f.kind == 0) x.attrc("recursive", f.recursive ? "yes" : "no");
    x.attr("alternatePath", f.alt);
    x.attrn("filespecBackupType", f.mask);
    x.addc("/>\r\n");
  }
}
// Serialises as VSS writes writer metadata (root, IDENTIFICATION, RESTORE_METHOD,
// BACKUP_LOCATIONS, FILE_GROUP/DATABASE, FILE_LIST..., EXCLUDE_FILES -- see the captures).
// CHOICE: component dependencies are written as <DEPENDENCY onWriterId onLogicalPath
// onComponentName/> inside the component; VSS's own element name is not documented.
static BSTR meta_xml(Meta* m) {
  WBuf x{};
  x.addc("<WRITER_METADATA xmlns=\"x-schema:#VssWriterMetadataInfo\" version=\"1.2\"");
  if (m->schema) x.attrn("backupSchema", m->schema);
  x.addc(">\r\n\t<IDENTIFICATION");
  x.attrg("writerId", m->writerId); x.attrg("instanceId", m->instanceId); x.attr("instanceName", m->instanceName);
  x.attr("friendlyName", m->name ? m->name : L""); x.attrc("usage", usage_tok(m->usage)); x.attrc("dataSource", source_tok(m->source));
  x.attrn("majorVersion", m->major); x.attrn("minorVersion", m->minor);
  x.addc("/>\r\n");
  if (m->restoreSet) {
    x.addc("\t<RESTORE_METHOD"); x.attrc("method", method_tok(m->method)); x.attr("service", m->service);
    x.attrc("writerRestore", wre_tok(m->writerRestore)); x.attrc("rebootRequired", m->reboot ? "yes" : "no"); x.addc("/>\r\n");
  }
  x.addc("\t<BACKUP_LOCATIONS>\r\n");
  xml_files(x, m->include, "\t\t");
  for (UINT i = 0; i < m->comps.n; ++i) {
    MComp& c = m->comps[i];
    const char* el = c.type == VSS_CT_DATABASE ? "DATABASE" : "FILE_GROUP";
    x.addc("\t\t<"); x.addc(el);
    x.attr("logicalPath", c.lp); x.attr("componentName", c.name); x.attr("caption", c.caption);
    x.attrc("restoreMetadata", c.restoreMetadata ? "yes" : "no"); x.attrc("notifyOnBackupComplete", c.notify ? "yes" : "no");
    x.attrc("selectable", c.selectable ? "yes" : "no"); x.attrc("selectableForRestore", c.selectableForRestore ? "yes" : "no");
    x.attrn("componentFlags", c.flags); x.addc(">\r\n");
    xml_files(x, c.files, "\t\t\t");
    for (UINT d = 0; d < c.deps.n; ++d) {
      x.addc("\t\t\t<DEPENDENCY"); x.attrg("onWriterId", c.deps[d].onWriter); x.attr("onLogicalPath", c.deps[d].onLp);
      x.attr("onComponentName", c.deps[d].onName); x.addc("/>\r\n");
    }
    x.addc("\t\t</"); x.addc(el); x.addc(">\r\n");
  }
  x.addc("\t</BACKUP_LOCATIONS>\r\n");
  for (UINT i = 0; i < m->exclude.n; ++i) {
    x.addc("\t<EXCLUDE_FILES"); x.attr("path", m->exclude[i].path); x.attr("filespec", m->exclude[i].spec);
    x.attrc("recursive", m->exclude[i].recursive ? "yes" : "no"); x.addc("/>\r\n");
  }
  x.addc("</WRITER_METADATA>\r\n");
  BSTR b = SysAllocString(x.p);
  x.release();
  return b;
}
static void log_xml(const char* ev, const GUID& writerId, BSTR xml) { Rec(ev).g("writerId", writerId).s("xml", xml).done(); }

// AddExcludeFiles of both metadata interfaces (vswriter.h IVssCreateWriterMetadata,
// IVssCreateExpressWriterMetadata): recorded and kept; the stand-in checks nothing here.
static HRESULT AddExclude(Meta* m, const char* ev, LPCWSTR path, LPCWSTR spec, bool rec) {
  Rec(ev).s("path", path).s("filespec", spec).t("recursive", rec).done();
  MFile& f = m->exclude.push(); f.path = wdup(path); f.spec = wdup(spec); f.recursive = rec;
  return S_OK;
}

// IVssCreateWriterMetadata handed to OnIdentify (vswriter.h: base-less class, 12 slots).
class CreateWriterMetadataImpl : public IVssCreateWriterMetadata {
 public:
  Meta* m;
  explicit CreateWriterMetadataImpl(Meta* meta) : m(meta) {}
  STDMETHOD(AddIncludeFiles)(LPCWSTR path, LPCWSTR spec, bool rec, LPCWSTR alt) override {
    Rec("metadata.AddIncludeFiles").s("path", path).s("filespec", spec).t("recursive", rec).s("alternateLocation", alt).done();
    MFile& f = m->include.push(); f.path = wdup(path); f.spec = wdup(spec); f.recursive = rec; f.alt = wdup(alt); f.mask = 0xF0F;
    return S_OK;
  }
  STDMETHOD(AddExcludeFiles)(LPCWSTR path, LPCWSTR spec, bool rec) override { return AddExclude(m, "metadata.AddExcludeFiles", path, spec, rec); }
  STDMETHOD(AddComponent)(VSS_COMPONENT_TYPE ct, LPCWSTR lp, LPCWSTR name, LPCWSTR caption, const BYTE* icon, UINT cbIcon,
                          bool restoreMetadata, bool notify, bool selectable, bool selectableForRestore, DWORD flags) override {
    HRESULT hr = S_OK;
    // Learn IVssCreateWriterMetadata::AddComponent: name required; logical path + name unique
    // (VSS_E_OBJECT_ALREADY_EXISTS); icon NULL => cbIcon 0.
    if (!name || !*name || (ct != VSS_CT_DATABASE && ct != VSS_CT_FILEGROUP) || (!icon && cbIcon)) hr = E_INVALIDARG;
    else if (find_comp(m, lp, name)) hr = VSS_E_OBJECT_ALREADY_EXISTS;
    Rec("metadata.AddComponent").n("type", ct).s("logicalPath", lp).s("componentName", name).s("caption", caption).n("cbIcon", cbIcon)
        .t("restoreMetadata", restoreMetadata).t("notifyOnBackupComplete", notify).t("selectable", selectable)
        .t("selectableForRestore", selectableForRestore).n("componentFlags", flags).h("hr", hr).done();
    if (hr != S_OK) return hr;
    MComp& c = m->comps.push();
    c.type = ct; c.lp = wdup(lp); c.name = wdup(name); c.caption = wdup(caption); c.restoreMetadata = restoreMetadata; c.notify = notify;
    c.selectable = selectable; c.selectableForRestore = selectableForRestore; c.flags = flags;
    return S_OK;
  }
  HRESULT addFiles(const char* what, int kind, LPCWSTR lp, LPCWSTR name, LPCWSTR path, LPCWSTR spec, bool rec, LPCWSTR alt, DWORD mask) {
    MComp* c = find_comp(m, lp, name);
    HRESULT hr = !c ? VSS_E_OBJECT_NOT_FOUND : (kind == 0) != (c->type == VSS_CT_FILEGROUP) ? E_INVALIDARG : S_OK;
    Rec(what).s("logicalPath", lp).s("componentName", name).s("path", path).s("filespec", spec).t("recursive", rec)
        .s("alternateLocation", alt).n("backupTypeMask", mask).h("hr", hr).done();
    if (hr != S_OK) return hr;
    MFile& f = c->files.push(); f.kind = kind; f.path = wdup(path); f.spec = wdup(spec); f.recursive = rec; f.alt = wdup(alt); f.mask = mask;
    return S_OK;
  }
  STDMETHOD(AddDatabaseFiles)(LPCWSTR lp, LPCWSTR db, LPCWSTR path, LPCWSTR spec, DWORD mask) override {
    return addFiles("metadata.AddDatabaseFiles", 1, lp, db, path, spec, false, nullptr, mask);
  }
  STDMETHOD(AddDatabaseLogFiles)(LPCWSTR lp, LPCWSTR db, LPCWSTR path, LPCWSTR spec, DWORD mask) override {
    return addFiles("metadata.AddDatabaseLogFiles", 2, lp, db, path, spec, false, nullptr, mask);
  }
  STDMETHOD(AddFilesToFileGroup)(LPCWSTR lp, LPCWSTR group, LPCWSTR path, LPCWSTR spec, bool rec, LPCWSTR alt, DWORD mask) override {
    return addFiles("metadata.AddFilesToFileGroup", 0, lp, group, path, spec, rec, alt, mask);
  }
  STDMETHOD(SetRestoreMethod)(VSS_RESTOREMETHOD_ENUM method, LPCWSTR service, LPCWSTR userProc, VSS_WRITERRESTORE_ENUM wre, bool reboot) override {
    Rec("metadata.SetRestoreMethod").n("method", method).s("service", service).s("userProcedure", userProc).n("writerRestore", wre).t("rebootRequired", reboot).done();
    m->restoreSet = true; m->method = method; m->service = wdup(service); m->writerRestore = wre; m->reboot = reboot;
    return S_OK;
  }
  STDMETHOD(AddAlternateLocationMapping)(LPCWSTR src, LPCWSTR spec, bool rec, LPCWSTR dst) override {
    Rec("metadata.AddAlternateLocationMapping").s("sourcePath", src).s("filespec", spec).t("recursive", rec).s("destination", dst).done();
    return S_OK;
  }
  STDMETHOD(AddComponentDependency)(LPCWSTR forLp, LPCWSTR forName, VSS_ID onWriter, LPCWSTR onLp, LPCWSTR onName) override {
    MComp* c = find_comp(m, forLp, forName);
    HRESULT hr = c ? S_OK : VSS_E_OBJECT_NOT_FOUND;  // CHOICE: the "for" component must have been added
    Rec("metadata.AddComponentDependency").s("forLogicalPath", forLp).s("forComponentName", forName).g("onWriterId", onWriter)
        .s("onLogicalPath", onLp).s("onComponentName", onName).h("hr", hr).done();
    if (c) { MDep& d = c->deps.push(); d.onWriter = onWriter; d.onLp = wdup(onLp); d.onName = wdup(onName); }
    return hr;
  }
  STDMETHOD(SetBackupSchema)(DWORD mask) override { Rec("metadata.SetBackupSchema").n("schema", mask).done(); m->schema = mask; return S_OK; }
  STDMETHOD(GetDocument)(IXMLDOMDocument** doc) override { if (doc) *doc = nullptr; Rec("metadata.GetDocument").c("answer", "E_NOTIMPL").done(); return E_NOTIMPL; }
  STDMETHOD(SaveAsXML)(BSTR* out) override { if (!out) return E_INVALIDARG; *out = meta_xml(m); return S_OK; }
};

// ---------------------------------------------------------------------------------------------
// IVssComponent / IVssWriterComponents handed to PrepareForBackup, PostSnapshot, BackupComplete,
// PreRestore, PostRestore (vswriter.h). Components come from the scenario's `component` lines.
class ComponentImpl final : public IVssComponent {
 public:
  LONG ref = 1; ScComp* c; int ev;  // backup metadata / stamp live on the ScComp (whole backup)
  ComponentImpl(ScComp* comp, int event) : c(comp), ev(event) {}
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { LONG r = --ref; if (!r) delete this; return r; }
  static HRESULT bstr(BSTR* out, const wchar_t* v) { if (!out) return E_INVALIDARG; *out = v ? SysAllocString(v) : nullptr; return S_OK; }
  static HRESULT bstrLocked(BSTR* out, wchar_t* const* v) { EnterCriticalSection(&g_cs); HRESULT hr = bstr(out, *v); LeaveCriticalSection(&g_cs); return hr; }
  HRESULT na(const char* m) { Rec("component.notImplemented").c("method", m).done(); return E_NOTIMPL; }
  STDMETHOD(GetLogicalPath)(BSTR* p) override { return bstr(p, c->lp); }
  STDMETHOD(GetComponentType)(VSS_COMPONENT_TYPE* p) override { if (!p) return E_INVALIDARG; *p = c->type; return S_OK; }
  STDMETHOD(GetComponentName)(BSTR* p) override { return bstr(p, c->name); }
  // CHOICE: the requester is modelled as having called SetBackupSucceeded(true) by BackupComplete.
  STDMETHOD(GetBackupSucceeded)(bool* p) override { if (!p) return E_INVALIDARG; *p = ev == EV_BACKUP_COMPLETE; return S_OK; }
  STDMETHOD(GetAlternateLocationMappingCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetAlternateLocationMapping)(UINT, IVssWMFiledesc**) override { return na("GetAlternateLocationMapping"); }
  STDMETHOD(SetBackupMetadata)(LPCWSTR d) override {
    // Learn IVssComponent::SetBackupMetadata: only during a backup, not in BackupComplete or
    // BackupShutdown (VSS_E_BAD_STATE); VSS_E_OBJECT_ALREADY_EXISTS "The backup metadata has
    // already been written" -- once per component for the whole backup, whichever event wrote it.
    EnterCriticalSection(&g_cs);
    HRESULT hr = (ev == EV_BACKUP_COMPLETE || ev == EV_BACKUP_SHUTDOWN || ev == EV_PRE_RESTORE || ev == EV_POST_RESTORE) ? VSS_E_BAD_STATE
                 : c->backupMetadata ? VSS_E_OBJECT_ALREADY_EXISTS : S_OK;
    if (hr == S_OK) c->backupMetadata = wdup(d ? d : L"");
    LeaveCriticalSection(&g_cs);
    Rec("component.SetBackupMetadata").c("event", kEvName[ev]).s("componentName", c->name).s("data", d).h("hr", hr).done();
    return hr;
  }
  // Learn IVssComponent::GetBackupMetadata: returns what SetBackupMetadata stored for the component.
  STDMETHOD(GetBackupMetadata)(BSTR* p) override { return bstrLocked(p, &c->backupMetadata); }
  STDMETHOD(AddPartialFile)(LPCWSTR, LPCWSTR, LPCWSTR, LPCWSTR) override { return na("AddPartialFile"); }
  STDMETHOD(GetPartialFileCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetPartialFile)(UINT, BSTR*, BSTR*, BSTR*, BSTR*) override { return na("GetPartialFile"); }
  STDMETHOD(IsSelectedForRestore)(bool* p) override { if (!p) return E_INVALIDARG; *p = ev == EV_PRE_RESTORE || ev == EV_POST_RESTORE; return S_OK; }
  STDMETHOD(GetAdditionalRestores)(bool* p) override { if (!p) return E_INVALIDARG; *p = false; return S_OK; }
  STDMETHOD(GetNewTargetCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetNewTarget)(UINT, IVssWMFiledesc**) override { return na("GetNewTarget"); }
  STDMETHOD(AddDirectedTarget)(LPCWSTR, LPCWSTR, LPCWSTR, LPCWSTR, LPCWSTR, LPCWSTR) override { return na("AddDirectedTarget"); }
  STDMETHOD(GetDirectedTargetCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetDirectedTarget)(UINT, BSTR*, BSTR*, BSTR*, BSTR*, BSTR*, BSTR*) override { return na("GetDirectedTarget"); }
  STDMETHOD(SetRestoreMetadata)(LPCWSTR d) override { Rec("component.SetRestoreMetadata").s("data", d).done(); return S_OK; }
  STDMETHOD(GetRestoreMetadata)(BSTR* p) override { return bstr(p, nullptr); }
  STDMETHOD(SetRestoreTarget)(VSS_RESTORE_TARGET t) override { Rec("component.SetRestoreTarget").n("target", t).done(); return S_OK; }
  STDMETHOD(GetRestoreTarget)(VSS_RESTORE_TARGET* p) override { if (!p) return E_INVALIDARG; *p = VSS_RT_ORIGINAL; return S_OK; }
  STDMETHOD(SetPreRestoreFailureMsg)(LPCWSTR d) override { Rec("component.SetPreRestoreFailureMsg").s("msg", d).done(); return S_OK; }
  STDMETHOD(GetPreRestoreFailureMsg)(BSTR* p) override { return bstr(p, nullptr); }
  STDMETHOD(SetPostRestoreFailureMsg)(LPCWSTR d) override { Rec("component.SetPostRestoreFailureMsg").s("msg", d).done(); return S_OK; }
  STDMETHOD(GetPostRestoreFailureMsg)(BSTR* p) override { return bstr(p, nullptr); }
  // Like the backup metadata, the stamp is kept on the component for the whole backup.
  STDMETHOD(SetBackupStamp)(LPCWSTR d) override {
    Rec("component.SetBackupStamp").c("event", kEvName[ev]).s("componentName", c->name).s("stamp", d).done();
    EnterCriticalSection(&g_cs); c->stamp = wdup(d); LeaveCriticalSection(&g_cs);
    return S_OK;
  }
  STDMETHOD(GetBackupStamp)(BSTR* p) override { return bstrLocked(p, &c->stamp); }
  STDMETHOD(GetPreviousBackupStamp)(BSTR* p) override { return bstr(p, nullptr); }
  STDMETHOD(GetBackupOptions)(BSTR* p) override { return bstr(p, nullptr); }
  STDMETHOD(GetRestoreOptions)(BSTR* p) override { return bstr(p, nullptr); }
  STDMETHOD(GetRestoreSubcomponentCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetRestoreSubcomponent)(UINT, BSTR*, BSTR*, bool*) override { return na("GetRestoreSubcomponent"); }
  STDMETHOD(GetFileRestoreStatus)(VSS_FILE_RESTORE_STATUS* p) override { if (!p) return E_INVALIDARG; *p = ev != EV_POST_RESTORE ? VSS_RS_UNDEFINED : g_sc.restoreFailed ? VSS_RS_FAILED : VSS_RS_ALL; return S_OK; }
  STDMETHOD(AddDifferencedFilesByLastModifyTime)(LPCWSTR, LPCWSTR, BOOL, FILETIME) override { return na("AddDifferencedFilesByLastModifyTime"); }
  STDMETHOD(AddDifferencedFilesByLastModifyLSN)(LPCWSTR, LPCWSTR, BOOL, BSTR) override { return na("AddDifferencedFilesByLastModifyLSN"); }
  STDMETHOD(GetDifferencedFilesCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = 0; return S_OK; }
  STDMETHOD(GetDifferencedFile)(UINT, BSTR*, BSTR*, BOOL*, BSTR*, FILETIME*) override { return na("GetDifferencedFile"); }
};

class WriterComponentsImpl : public IVssWriterComponents {
 public:
  VSS_ID instanceId, writerId; int ev;
  WriterComponentsImpl(const VSS_ID& inst, const VSS_ID& w, int event) : instanceId(inst), writerId(w), ev(event) {}
  STDMETHOD(GetComponentCount)(UINT* p) override { if (!p) return E_INVALIDARG; *p = g_sc.comps.n; return S_OK; }
  STDMETHOD(GetWriterInfo)(VSS_ID* inst, VSS_ID* w) override { if (inst) *inst = instanceId; if (w) *w = writerId; return S_OK; }
  STDMETHOD(GetComponent)(UINT i, IVssComponent** pp) override {
    if (!pp) return E_INVALIDARG;
    *pp = nullptr;
    if (i >= g_sc.comps.n) return E_INVALIDARG;
    *pp = new ComponentImpl(&g_sc.comps[i], ev);
    return S_OK;
  }
};

// ---------------------------------------------------------------------------------------------
// IVssWriterImpl returned by CreateWriter.
class WriterImpl;
static WriterImpl* g_writer = nullptr;  // the subscribed writer in this process (for the requester side)

struct Delivery { WriterImpl* w; int ev; HANDLE thread; DWORD tid; bool result; bool returned; const char* why; };

class WriterImpl : public IVssWriterImpl {
 public:
  LONG ref = 1;
  CVssWriter* writer;
  bool initialized = false, subscribed = false, unsubscribing = false;
  VSS_ID writerId{}, instanceId{}; wchar_t* name = nullptr; wchar_t* instanceName = nullptr;
  VSS_USAGE_TYPE usage{}; VSS_SOURCE_TYPE source{}; VSS_APPLICATION_LEVEL level{}; DWORD timeoutFreeze = 0; DWORD flags = 0;
  DWORD subscriberTid = 0;
  HANDLE stopEvent = nullptr, sequencer = nullptr, idleEvent = nullptr;  // idle: all steps before waitUnsubscribe ran
  // Deliveries in flight (tid -> event) for the SetWriterFailure thread rule.
  struct Active { DWORD tid; int ev; HRESULT failure; bool failureSet; };
  Active active[8] = {};
  VSS_WRITER_STATE state = VSS_WS_STABLE; HRESULT stateHr = S_OK;
  Meta lastMeta{}; bool haveMeta = false;
  bool backupInProgress = false, postSnapshotDone = false, aborted = false;
  bool snapshotCreated = false;  // the backup reached PostSnapshot (the shadow copy exists)

  // Event of the calling thread (EV_NONE when it is not a delivery thread); *anyEv = an event in
  // flight on any thread, EV_NONE when none.
  int threadEvent(int* anyEv) const {
    DWORD me = GetCurrentThreadId(); int mine = EV_NONE, any = EV_NONE;
    EnterCriticalSection(&g_cs);
    for (auto& x : active) { if (!x.tid) continue; any = x.ev; if (x.tid == me) mine = x.ev; }
    LeaveCriticalSection(&g_cs);
    if (anyEv) *anyEv = any;
    return mine;
  }

  explicit WriterImpl(CVssWriter* w) : writer(w) {}

  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override {
    LONG r = --ref;
    Rec("IVssWriterImpl.Release").n("ref", r).done();
    return r;  // CHOICE: never freed (a late event thread may still hold it); test process is short-lived
  }

  // vswriter.h IVssWriterImpl::Initialize(writerId, name, instanceName, major, minor, ut, st, level, timeout, aws, ioThrottlingOnly)
  HRESULT Initialize(VSS_ID id, LPCWSTR wszName, LPCWSTR wszInstance, DWORD major, DWORD minor, VSS_USAGE_TYPE ut, VSS_SOURCE_TYPE st,
                     VSS_APPLICATION_LEVEL lvl, DWORD timeout, VSS_ALTERNATE_WRITER_STATE aws, bool ioOnly) override {
    // Learn CVssWriter::Initialize: E_INVALIDARG "one of the parameter values is not valid".
    // CHOICE: NULL/empty name, or usage/source outside the enums, count as not valid.
    HRESULT hr = (!wszName || !*wszName || ut > VSS_UT_OTHER || st > VSS_ST_OTHER) ? E_INVALIDARG : S_OK;
    Rec("IVssWriterImpl.Initialize").g("writerId", id).s("writerName", wszName).s("instanceName", wszInstance).n("major", major)
        .n("minor", minor).n("usage", ut).n("source", st).n("level", lvl).n("timeoutFreeze", timeout).n("aws", aws)
        .t("ioThrottlingOnly", ioOnly).h("hr", hr).done();
    if (hr != S_OK) return hr;
    writerId = id; name = wdup(wszName); instanceName = wdup(wszInstance); usage = ut; source = st; level = lvl; timeoutFreeze = timeout;
    // VSS assigns a unique instance id to each writer instance (Learn CVssWriter::Initialize remarks).
    instanceId = id; instanceId.Data1 ^= GetCurrentProcessId(); instanceId.Data4[7] ^= 0x5A;
    initialized = true;
    return S_OK;
  }
  HRESULT Subscribe(DWORD subscribeTimeout, DWORD evFlags) override {
    load_scenario();
    HRESULT hr = !initialized ? VSS_E_BAD_STATE : subscribed ? VSS_E_WRITER_ALREADY_SUBSCRIBED : S_OK;
    // Learn VSS_SUBSCRIBE_MASK: "the only supported bit mask is (VSS_SM_BACKUP_EVENTS_FLAG |
    // VSS_SM_RESTORE_EVENTS_FLAG)". CHOICE: anything else is accepted but logged as a violation.
    bool supported = evFlags == (VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG);
    Rec("IVssWriterImpl.Subscribe").n("subscribeTimeout", subscribeTimeout).n("flags", evFlags).t("supportedMask", supported)
        .c("violation", supported ? nullptr : "unsupportedSubscribeMask").h("hr", hr).done();
    if (hr != S_OK) return hr;
    subscribed = true; flags = evFlags; subscriberTid = GetCurrentThreadId();
    EnterCriticalSection(&g_cs); g_writer = this; LeaveCriticalSection(&g_cs);
    stopEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    idleEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    sequencer = CreateThread(nullptr, 0, &WriterImpl::sequencerMain, this, 0, nullptr);
    return S_OK;
  }
  HRESULT Unsubscribe() override {
    // Called from inside an event handler: if Unsubscribe waited for the events in flight (as it
    // does otherwise, see below) it would wait for the very handler that called it -- a deadlock
    // (reviewer's B25; the Unsubscribe page is silent). It is logged as a violation and does not
    // wait for the in-flight event (nor for the sequencer, which is waiting for that handler).
    int handlerEv = threadEvent(nullptr);
    bool fromHandler = handlerEv != EV_NONE;
    Rec r("IVssWriterImpl.Unsubscribe"); r.c("phase", "begin").t("subscribed", subscribed)
        .c("violation", fromHandler ? "unsubscribeFromHandler" : nullptr).c("event", fromHandler ? kEvName[handlerEv] : nullptr).done();
    if (!subscribed) { Rec("IVssWriterImpl.Unsubscribe").c("phase", "end").h("hr", S_OK).done(); return S_OK; }
    unsubscribing = true;
    // Hazard the scenario can provoke: an event arriving while Unsubscribe runs. CHOICE (the
    // Unsubscribe page is silent): Unsubscribe waits for events in flight to finish before it
    // returns, so the writer object stays valid until then.
    if (g_sc.onUnsubscribe != EV_NONE) {
      Delivery* d = start(g_sc.onUnsubscribe, "duringUnsubscribe");
      if (!fromHandler) finish(d, INFINITE);
    }
    SetEvent(stopEvent);
    if (!fromHandler) { WaitForSingleObject(sequencer, INFINITE); CloseHandle(sequencer); }
    sequencer = nullptr;
    EnterCriticalSection(&g_cs); if (g_writer == this) g_writer = nullptr; LeaveCriticalSection(&g_cs);
    subscribed = false; unsubscribing = false;
    Rec("IVssWriterImpl.Unsubscribe").c("phase", "end").t("waitedForInFlight", !fromHandler).h("hr", S_OK).done();
    return S_OK;
  }
  void Uninitialize() override { Rec("IVssWriterImpl.Uninitialize").done(); if (subscribed) Unsubscribe(); initialized = false; }
  LPCWSTR* GetCurrentVolumeArray() const override { Rec("IVssWriterImpl.GetCurrentVolumeArray").done(); return (LPCWSTR*)g_sc.volumes.p; }
  UINT GetCurrentVolumeCount() const override { Rec("IVssWriterImpl.GetCurrentVolumeCount").done(); return g_sc.volumes.n; }
  HRESULT GetSnapshotDeviceName(LPCWSTR vol, LPCWSTR* dev) const override {
    Rec("IVssWriterImpl.GetSnapshotDeviceName").s("volume", vol).done();
    if (dev) *dev = nullptr;
    return E_NOTIMPL;  // CHOICE: no shadow copies exist here
  }
  // Learn CVssWriter::GetCurrentSnapshotSetId: "cannot be called after CVssWriter::OnPostSnapshot
  // returns"; from OnBackupShutdown the id "could be that of another backup operation"; "if this
  // method is not called as part of a backup sequence -- that is, not called from an event handler
  // -- which shadow copy set ID is returned is unpredictable". Each is logged as a violation
  // (inBackupShutdown, afterPostSnapshot, noEventInProgress / notOnEventThread when another thread
  // is in a handler); CHOICE: the scenario's id is still answered.
  VSS_ID GetCurrentSnapshotSetId() const override {
    int anyEv; int ev = threadEvent(&anyEv);
    const char* violation = ev == EV_BACKUP_SHUTDOWN ? "inBackupShutdown" : ev == EV_NONE ? (anyEv == EV_NONE ? "noEventInProgress" : "notOnEventThread")
                            : postSnapshotDone ? "afterPostSnapshot" : nullptr;
    Rec("IVssWriterImpl.GetCurrentSnapshotSetId").g("answer", g_sc.snapshotSetId).c("event", ev != EV_NONE ? kEvName[ev] : nullptr)
        .c("violation", violation).done();
    return g_sc.snapshotSetId;
  }
  LONG GetContext() const override { Rec("IVssWriterImpl.GetContext").n("answer", g_sc.context).done(); return g_sc.context; }
  VSS_APPLICATION_LEVEL GetCurrentLevel() const override { Rec("IVssWriterImpl.GetCurrentLevel").n("answer", level).done(); return level; }
  bool IsPathAffected(LPCWSTR p) const override { Rec("IVssWriterImpl.IsPathAffected").s("path", p).done(); return g_sc.volumes.n > 0; }
  bool IsBootableSystemStateBackedUp() const override { Rec("IVssWriterImpl.IsBootableSystemStateBackedUp").t("answer", g_sc.bootable).done(); return g_sc.bootable; }
  bool AreComponentsSelected() const override { Rec("IVssWriterImpl.AreComponentsSelected").t("answer", g_sc.componentsSelected).done(); return g_sc.componentsSelected; }
  VSS_BACKUP_TYPE GetBackupType() const override { Rec("IVssWriterImpl.GetBackupType").n("answer", g_sc.backupType).done(); return g_sc.backupType; }
  VSS_RESTORE_TYPE GetRestoreType() const override { Rec("IVssWriterImpl.GetRestoreType").n("answer", g_sc.restoreType).done(); return g_sc.restoreType; }
  // Learn CVssWriter::SetWriterFailure: "cannot be called from CVssWriter::OnIdentify"; "If a
  // writer's event handler ... calls this method, it must do so in the same thread that called
  // the event handler". Records the hr, the calling thread, and any violation.
  // CHOICE: a call that violates either rule is logged and NOT applied to the writer state; it
  // returns S_OK (the docs do not say what the real one returns).
  // Learn CVssWriterEx2::SetWriterFailureEx (same hrWriter list as SetWriterFailure): S_OK "The
  // writer was successful" -- so S_OK records success: it sets no failure and clears one set
  // earlier in the same handler. The Ex variant's hrApplication and wszApplicationMessage are
  // logged (record IVssWriterImpl.SetWriterFailureEx).
  HRESULT setFailure(const char* recName, HRESULT hr, bool ex, HRESULT hrApplication, LPCWSTR message) {
    DWORD me = GetCurrentThreadId();
    EnterCriticalSection(&g_cs);
    Active* a = nullptr; int anyEv = EV_NONE;
    for (auto& x : active) { if (x.tid == me) a = &x; if (x.tid) anyEv = x.ev; }
    const char* violation = !a ? (anyEv != EV_NONE ? "notOnEventThread" : "noEventInProgress") : a->ev == EV_IDENTIFY ? "fromOnIdentify" : nullptr;
    if (a && !violation) { a->failure = hr; a->failureSet = hr != S_OK; }
    int ev = a ? a->ev : EV_NONE;
    LeaveCriticalSection(&g_cs);
    Rec r(recName); r.h("hr", hr).t("meansSuccess", hr == S_OK).t("onEventThread", a != nullptr)
        .c("event", ev != EV_NONE ? kEvName[ev] : anyEv != EV_NONE ? kEvName[anyEv] : nullptr)
        .c("eventOfThisThread", ev != EV_NONE ? kEvName[ev] : nullptr).c("violation", violation);
    if (ex) r.h("hrApplication", hrApplication).s("applicationMessage", message);
    r.done();
    return S_OK;
  }
  HRESULT SetWriterFailure(HRESULT hr) override { return setFailure("IVssWriterImpl.SetWriterFailure", hr, false, S_OK, nullptr); }
  bool IsPartialFileSupportEnabled() const override { Rec("IVssWriterImpl.IsPartialFileSupportEnabled").t("answer", g_sc.partial).done(); return g_sc.partial; }
  HRESULT InstallAlternateWriter(VSS_ID, CLSID) override { Rec("IVssWriterImpl.InstallAlternateWriter").done(); return E_NOTIMPL; }
  IVssExamineWriterMetadata* GetIdentityInformation() const override { Rec("IVssWriterImpl.GetIdentityInformation").done(); return nullptr; }
  HRESULT SetWriterFailureEx(HRESULT hr, HRESULT hrApp, LPCWSTR msg) override { return setFailure("IVssWriterImpl.SetWriterFailureEx", hr, true, hrApp, msg); }
  HRESULT GetSessionId(VSS_ID* id) override { if (id) *id = g_sc.snapshotSetId; Rec("IVssWriterImpl.GetSessionId").done(); return S_OK; }
  bool IsWriterShuttingDown() override { Rec("IVssWriterImpl.IsWriterShuttingDown").t("answer", g_sc.shuttingDown).done(); return g_sc.shuttingDown; }

  // ---- event delivery: one new thread per event, never the subscriber's thread --------------
  // CHOICE: real VSS calls handlers on COM/RPC threads of the writer process; the docs only
  // require that the handler's thread is the one SetWriterFailure is called from. A fresh
  // thread per event makes any thread confusion in the writer visible.
  static DWORD WINAPI deliveryMain(void* p) {
    Delivery* d = (Delivery*)p;
    WriterImpl* w = d->w;
    d->tid = GetCurrentThreadId();
    EnterCriticalSection(&g_cs);
    for (auto& x : w->active) if (!x.tid) { x.tid = d->tid; x.ev = d->ev; x.failure = S_OK; x.failureSet = false; break; }
    LeaveCriticalSection(&g_cs);
    // Learn CVssWriter::OnBackupShutdown: "If no shadow copy has been successfully performed, the
    // value of the shadow copy set identifier (SnapshotSetId) will be NULL."
    VSS_ID shutdownId = w->snapshotCreated ? g_sc.snapshotSetId : GUID_NULL;
    Rec dr("deliver"); dr.c("event", kEvName[d->ev]).n("subscriberTid", w->subscriberTid).t("onSubscriberThread", d->tid == w->subscriberTid)
        .c("why", d->why);
    if (d->ev == EV_BACKUP_SHUTDOWN) dr.g("snapshotSetId", shutdownId);
    dr.done();
    VSS_ID inst = w->instanceId;
    CVssWriter* cw = w->writer;
    bool r = true;
    // Calls go through the MSVC vftable of the writer's CVssWriter (slots per cvsswriter_sdk.h).
    switch (d->ev) {
      case EV_IDENTIFY: {
        Meta* m = (Meta*)alloc(sizeof(Meta));
        m->writerId = w->writerId; m->instanceId = inst; m->name = w->name; m->instanceName = w->instanceName;
        m->usage = w->usage; m->source = w->source;
        CreateWriterMetadataImpl md(m);
        r = cw->OnIdentify(&md);
        BSTR xml = meta_xml(m);
        // Learn "Overview of Backup Initialization": writers that fail the Identify event are not
        // reported to the requester -- a veto drops metadata an earlier Identify produced, so
        // GetWriterMetadataCount no longer counts this writer.
        EnterCriticalSection(&g_cs);
        if (r) { w->lastMeta = *m; w->haveMeta = true; } else w->haveMeta = false;
        LeaveCriticalSection(&g_cs);
        log_xml("writerMetadata", w->writerId, xml);
        SysFreeString(xml);
        break;
      }
      case EV_PREPARE_BACKUP: { WriterComponentsImpl c(inst, w->writerId, d->ev); r = cw->OnPrepareBackup(g_sc.componentsSelected ? &c : nullptr); break; }
      case EV_PREPARE_SNAPSHOT: r = cw->OnPrepareSnapshot(); break;
      case EV_FREEZE: r = cw->OnFreeze(); break;
      case EV_THAW: r = cw->OnThaw(); break;
      case EV_POST_SNAPSHOT: { WriterComponentsImpl c(inst, w->writerId, d->ev); r = cw->OnPostSnapshot(g_sc.componentsSelected ? &c : nullptr); break; }
      case EV_BACKUP_COMPLETE: { WriterComponentsImpl c(inst, w->writerId, d->ev); r = cw->OnBackupComplete(g_sc.componentsSelected ? &c : nullptr); break; }
      case EV_BACKUP_SHUTDOWN: r = cw->OnBackupShutdown(shutdownId); break;
      case EV_PRE_RESTORE: { WriterComponentsImpl c(inst, w->writerId, d->ev); r = cw->OnPreRestore(&c); break; }
      case EV_POST_RESTORE: { WriterComponentsImpl c(inst, w->writerId, d->ev); r = cw->OnPostRestore(&c); break; }
      case EV_ABORT: r = cw->OnAbort(); break;
    }
    HRESULT failure = S_OK; bool failureSet = false;
    EnterCriticalSection(&g_cs);
    for (auto& x : w->active) if (x.tid == d->tid) { failure = x.failure; failureSet = x.failureSet; x.tid = 0; break; }
    LeaveCriticalSection(&g_cs);
    d->result = r;
    d->returned = true;
    w->applyResult(d->ev, r, failureSet, failure);
    return 0;
  }
  // Writer state after an event (Learn VSS_WRITER_STATE). Success: Identify keeps the state,
  // PrepareForBackup -> STABLE ("OnPrepareSnapshot has not yet been called"), PrepareForSnapshot
  // -> WAITING_FOR_FREEZE, Freeze -> WAITING_FOR_THAW, Thaw -> WAITING_FOR_POST_SNAPSHOT,
  // PostSnapshot -> WAITING_FOR_BACKUP_COMPLETE, BackupComplete/BackupShutdown/restore -> STABLE.
  // Failure: FAILED_AT_<event> with the hr the handler passed to SetWriterFailure.
  // Learn CVssWriter::OnAbort/OnFreeze etc.: "If a fatal error occurs, the method must call
  // SetWriterFailure ... before returning false. If a nonfatal error occurs, the method should
  // still call SetWriterFailure but return true."
  // CHOICE: a handler returning false without SetWriterFailure gets
  // VSS_E_WRITERERROR_NONRETRYABLE and a "vetoWithoutSetWriterFailure" violation -- except
  // OnIdentify: returning false is the documented way to fail Identify, and SetWriterFailure
  // "cannot be called from CVssWriter::OnIdentify" (Learn SetWriterFailure), so no violation
  // there (state FAILED_AT_IDENTIFY, hr NONRETRYABLE: docs silent on the hr); a handler that
  // set a failure but returned true is FAILED_AT_<event> too, but the sequence continues. A
  // failure state is kept until the next backup/restore starts.
  void applyResult(int ev, bool r, bool failureSet, HRESULT failure) {
    EnterCriticalSection(&g_cs);
    bool failedAlready = state >= VSS_WS_FAILED_AT_IDENTIFY;
    if (!r || failureSet) {
      if (ev != EV_ABORT) { state = kFailState[ev]; stateHr = failureSet ? failure : VSS_E_WRITERERROR_NONRETRYABLE; }
    } else if (!failedAlready) {
      switch (ev) {
        case EV_PREPARE_BACKUP: state = VSS_WS_STABLE; break;
        case EV_PREPARE_SNAPSHOT: state = VSS_WS_WAITING_FOR_FREEZE; break;
        case EV_FREEZE: state = VSS_WS_WAITING_FOR_THAW; break;
        case EV_THAW: state = VSS_WS_WAITING_FOR_POST_SNAPSHOT; break;
        case EV_POST_SNAPSHOT: state = VSS_WS_WAITING_FOR_BACKUP_COMPLETE; break;
        case EV_BACKUP_COMPLETE: case EV_BACKUP_SHUTDOWN: case EV_PRE_RESTORE: case EV_POST_RESTORE: state = VSS_WS_STABLE; break;
        default: break;
      }
    }
    VSS_WRITER_STATE s = state; HRESULT h = stateHr;
    LeaveCriticalSection(&g_cs);
    Rec("return").c("event", kEvName[ev]).t("result", r).t("vetoed", !r && ev != EV_ABORT).t("failureSet", failureSet).h("failure", failure)
        .c("violation", (!r && !failureSet && ev != EV_ABORT && ev != EV_IDENTIFY) ? "vetoWithoutSetWriterFailure" : nullptr).done();
    logState(s, h);
  }
  void setState(VSS_WRITER_STATE s, HRESULT h) {
    EnterCriticalSection(&g_cs); state = s; stateHr = h; LeaveCriticalSection(&g_cs);
    logState(s, h);
  }
  static void logState(VSS_WRITER_STATE s, HRESULT h) { Rec("writerState").n("state", s).c("name", kStateName[s]).h("hr", h).done(); }

  Delivery* start(int ev, const char* why) {
    Delivery* d = (Delivery*)alloc(sizeof(Delivery));
    d->w = this; d->ev = ev; d->why = why;
    d->thread = CreateThread(nullptr, 0, &WriterImpl::deliveryMain, d, 0, nullptr);
    return d;
  }
  // Waits up to ms; true when the handler returned.
  bool finish(Delivery* d, DWORD ms) { return WaitForSingleObject(d->thread, ms) == WAIT_OBJECT_0; }
  bool deliverSync(int ev, const char* why = "scenario") { Delivery* d = start(ev, why); finish(d, INFINITE); return d->result; }
  bool stopping() { return WaitForSingleObject(stopEvent, 0) == WAIT_OBJECT_0; }
  bool backupEvents() const { return (flags & VSS_SM_BACKUP_EVENTS_FLAG) != 0; }

  void abort(const char* reason) {
    // Learn CVssWriter::OnAbort: "This method will not be called if the writer has called
    // CVssWriter::OnPostSnapshot".
    if (postSnapshotDone) { Rec("abortSuppressed").c("reason", reason).c("why", "afterPostSnapshot").done(); return; }
    Rec("abort").c("reason", reason).t("doubleAbort", g_sc.doubleAbort).done();
    aborted = true;
    deliverSync(EV_ABORT, reason);
    // aborting-vss-operations.md: "it is possible for a writer to receive multiple Abort events
    // under certain circumstances". Scenario `set doubleAbort 1` sends each Abort twice.
    if (g_sc.doubleAbort) deliverSync(EV_ABORT, "doubleAbort");
  }

  // One backup: PrepareForBackup, PrepareForSnapshot, Freeze, Thaw, PostSnapshot,
  // BackupComplete, BackupShutdown (Learn "Overview of Processing a Backup Under VSS").
  void runBackup(Step& s) {
    if (!backupEvents()) { Rec("backupSkipped").c("why", "VSS_SM_BACKUP_EVENTS_FLAG not subscribed").done(); return; }
    Rec("backup.begin").g("snapshotSetId", g_sc.snapshotSetId).n("backupType", g_sc.backupType).n("freezeHold", s.freezeHold)
        .n("timeoutFreeze", timeoutFreeze).done();
    setState(VSS_WS_STABLE, S_OK);  // new operation
    EnterCriticalSection(&g_cs);
    postSnapshotDone = false; aborted = false; backupInProgress = true; snapshotCreated = false;
    for (UINT i = 0; i < g_sc.comps.n; ++i) g_sc.comps[i].backupMetadata = g_sc.comps[i].stamp = nullptr;  // a new backup document
    LeaveCriticalSection(&g_cs);
    static const int seq[] = {EV_PREPARE_BACKUP, EV_PREPARE_SNAPSHOT, EV_FREEZE, EV_THAW, EV_POST_SNAPSHOT, EV_BACKUP_COMPLETE, EV_BACKUP_SHUTDOWN};
    bool shutdownSent = false, interrupted = false;
    for (int ev : seq) {
      if (stopping()) { Rec("backup.interrupted").c("by", "Unsubscribe").c("before", kEvName[ev]).done(); interrupted = true; break; }
      bool ok;
      if (ev == EV_FREEZE) {
        // Learn CVssWriter::Initialize dwTimeoutFreeze: "maximum permitted time ... between a
        // writer's receipt of a Freeze event ... and the receipt of a matching Thaw ... After
        // the time-out expires, the writer's CVssWriter::OnAbort method is called
        // automatically." Learn CVssWriter::OnFreeze remarks: "if a Thaw event is not received
        // with the time-out window, an Abort event will be generated". So the window starts when
        // the Freeze is received (delivery start), the timer fires at expiry whatever the scenario's
        // freezeHold, and OnThaw's own run time is not part of it. State on expiry:
        // FAILED_AT_FREEZE with VSS_E_WRITERERROR_TIMEOUT (SetWriterFailure page: "time-out
        // between the Freeze and Thaw events"; KB 915331: "When the freeze event is called, a worker
        // thread is created to issue a time-out ... If the thaw event is not called within 60
        // seconds, the worker thread issues a time-out", status "FAILED_AT_FREEZE (0x800423f2 -
        // VSS_E_WRITERERROR_TIMEOUT)").
        unsigned long long freezeStart = GetTickCount64();
        Delivery* d = start(EV_FREEZE, "scenario");
        if (!finish(d, timeoutFreeze)) {
          Rec("freezeTimeout").c("phase", "OnFreezeStillRunning").n("timeoutFreeze", timeoutFreeze)
              .n("elapsed", (long long)(GetTickCount64() - freezeStart)).done();
          setState(VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_TIMEOUT);
          // Learn OnFreeze: "Either CVssWriter::OnThaw or CVssWriter::OnAbort will be called after
          // this method" -- the Abort waits until OnFreeze has returned, never runs beside it.
          finish(d, INFINITE);
          setState(VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_TIMEOUT);  // keep the timeout over the late return
          abort("freezeThawTimeout");
          break;
        }
        ok = d->result;
        if (ok) {
          unsigned long long elapsed = GetTickCount64() - freezeStart;
          DWORD remaining = elapsed >= timeoutFreeze ? 0 : (DWORD)(timeoutFreeze - elapsed);
          if (s.freezeHold >= remaining) {  // Thaw would come after expiry (or OnFreeze used it all up)
            if (remaining) WaitForSingleObject(stopEvent, remaining);
            if (stopping()) { Rec("backup.interrupted").c("by", "Unsubscribe").c("before", "Thaw").done(); interrupted = true; break; }
            Rec("freezeTimeout").c("phase", "ThawNotSentInTime").n("timeoutFreeze", timeoutFreeze)
                .n("elapsed", (long long)(GetTickCount64() - freezeStart)).done();
            setState(VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_TIMEOUT);
            abort("freezeThawTimeout");
            break;
          }
          if (s.freezeHold) WaitForSingleObject(stopEvent, s.freezeHold);
        }
      } else {
        if (ev == EV_POST_SNAPSHOT) snapshotCreated = true;  // DoSnapshotSet got past Thaw
        ok = deliverSync(ev);
      }
      if (ev == EV_POST_SNAPSHOT) { EnterCriticalSection(&g_cs); postSnapshotDone = true; LeaveCriticalSection(&g_cs); }
      if (ev == EV_BACKUP_SHUTDOWN) shutdownSent = true;
      if (!ok) {
        Rec("veto").c("event", kEvName[ev]).done();
        // aborting-vss-operations.md: "While handling the Freeze and Thaw events, a writer may
        // fail and can generate an Abort event on its own. Failure to handle PrepareForSnapshot
        // and PostSnapshot events does not generate an Abort event." After any other veto the
        // requester decides: its AbortBackup is modelled by the scenario's abortAfter=<event>.
        if (ev == EV_FREEZE || ev == EV_THAW) abort("writerVeto");
        else if (s.abortAfter == ev) abort("requesterAbortBackup");
        break;
      }
      if (s.identifyAfter == ev) deliverSync(EV_IDENTIFY, "midBackupIdentify");  // Identify may come at any time
      if (s.failAfter == ev) {
        Rec("providerFailure").c("after", kEvName[ev]).done();
        // aborting-vss-operations.md: Abort on "any failure of the provider or VSS during the
        // creation of a shadow copy following the PrepareForSnapshot event".
        if (ev == EV_PREPARE_SNAPSHOT || ev == EV_FREEZE || ev == EV_THAW) abort("providerFailure");
        break;
      }
      if (s.abortAfter == ev) { abort("requesterAbortBackup"); if (!postSnapshotDone) break; }
    }
    // handling-backupshutdown-events.md: VSS "generates a BackupShutdown event whenever an
    // instance of IVssBackupComponents participating in a backup is released"; "If the operation
    // aborts (the requester generates an Abort event by calling IVssBackupComponents::AbortBackup)
    // or fails abruptly, a writer may receive only a BackupShutdown event". So a backup that ended
    // early (veto, abort, provider failure) still ends with BackupShutdown when the requester
    // releases its object. (Learn OnAbort says no further events "related to the VSS operation"
    // follow OnAbort; BackupShutdown belongs to the requester's release, not to the operation.)
    // Not sent when the writer unsubscribed mid-backup.
    if (!shutdownSent && !interrupted && !stopping()) deliverSync(EV_BACKUP_SHUTDOWN, "requesterReleased");
    backupInProgress = false;
    Rec("backup.end").t("aborted", aborted).done();
  }

  void runRestore() {
    if (!(flags & VSS_SM_RESTORE_EVENTS_FLAG)) { Rec("restoreSkipped").c("why", "VSS_SM_RESTORE_EVENTS_FLAG not subscribed").done(); return; }
    // Learn VSS_WRITERRESTORE_ENUM: VSS_WRE_NEVER "The writer does not require restore events."
    // That is what the writer needs, not a promise that none come: docs silent on whether VSS
    // sends them. CHOICE: skipped by default; `set restoreEventsDespiteNever 1` sends them.
    VSS_WRITERRESTORE_ENUM wre = haveMeta && lastMeta.restoreSet ? lastMeta.writerRestore : VSS_WRE_UNDEFINED;
    if (wre == VSS_WRE_NEVER && !g_sc.restoreEventsDespiteNever) { Rec("restoreSkipped").c("why", "VSS_WRE_NEVER").done(); return; }
    Rec("restore.begin").n("writerRestore", wre).t("restoreFailed", g_sc.restoreFailed).done();
    setState(VSS_WS_STABLE, S_OK);
    if (!deliverSync(EV_PRE_RESTORE)) return;
    // Learn VSS_WRITERRESTORE_ENUM: VSS_WRE_IF_REPLACE_FAILS -- the writer "always expects to
    // handle a PreRestore ... event, but expects to handle a PostRestore event ... only if a
    // restore fails when implementing either a VSS_RME_RESTORE_IF_NOT_THERE or
    // VSS_RME_RESTORE_IF_CAN_REPLACE restore method". Whether the restore failed is the scenario's
    // `set restoreFailed 1`. CHOICE (docs silent): the rule is applied whatever the restore method.
    if (wre == VSS_WRE_IF_REPLACE_FAILS && !g_sc.restoreFailed) { Rec("postRestoreSkipped").c("why", "VSS_WRE_IF_REPLACE_FAILS and the restore succeeded").done(); return; }
    deliverSync(EV_POST_RESTORE);
  }

  static DWORD WINAPI sequencerMain(void* p) {
    WriterImpl* w = (WriterImpl*)p;
    Rec("sequencer.start").done();
    for (UINT i = 0; i < g_sc.steps.n && !w->stopping(); ++i) {
      Step& s = g_sc.steps[i];
      switch (s.kind) {
        case 0: w->deliverSync(EV_IDENTIFY); break;
        case 1: w->runBackup(s); break;
        case 2: w->runRestore(); break;
        case 3: WaitForSingleObject(w->stopEvent, s.ms); break;
        case 4: Rec("scenarioIdle").done(); SetEvent(w->idleEvent); WaitForSingleObject(w->stopEvent, INFINITE); break;
      }
    }
    Rec("scenarioDone").t("stopped", w->stopping()).done();
    SetEvent(w->idleEvent);
    return 0;
  }
};

// vswriter.h: extern "C" HRESULT STDAPICALLTYPE CreateWriter(CVssWriter*, IVssWriterImpl**)
extern "C" __declspec(dllexport) HRESULT WINAPI CreateWriter(CVssWriter* pWriter, IVssWriterImpl** ppImpl) {
  load_scenario();
  HRESULT hr = (!pWriter || !ppImpl) ? E_INVALIDARG : S_OK;
  Rec("CreateWriter").h("hr", hr).t("writerNull", !pWriter).done();
  if (hr != S_OK) return hr;
  *ppImpl = new WriterImpl(pWriter);
  return S_OK;
}

// ---------------------------------------------------------------------------------------------
// Legacy exports. MinGW-w64's libvssapi.a (an import library, so a list of what vssapi.dll
// exports) also names the pre-Vista MSVC-mangled CVssWriter members, CreateWriterEx and
// CreateVssExamineWriterMetadataInternal. Today's SDK defines the CVssWriter members inline
// (cvsswriter_sdk.h), but a client built against the old import library imports them by name and
// would not load without them. They are stubs: each logs {"ev":"legacyExportUsed","export":name}
// and returns E_NOTIMPL -- in RAX, which is meaningless for the members returning bool/UINT/void;
// two exceptions keep a caller's stack sane: the constructor returns `this` (MSVC ABI), and
// GetCurrentSnapshotSetId writes GUID_NULL into the caller's return buffer (RDX) and returns it.
// Every stub is an x64 function of (rcx, rdx); extra arguments are ignored.
#define LEGACY_MEMBERS(X)                                                                                                  \
  X(legacy_ctor, "??0CVssWriter@@QEAA@XZ")                                                                                 \
  X(legacy_dtor, "??1CVssWriter@@UEAA@XZ")                                                                                 \
  X(legacy_Initialize, "?Initialize@CVssWriter@@QEAAJU_GUID@@PEBGW4VSS_USAGE_TYPE@@W4VSS_SOURCE_TYPE@@W4_VSS_APPLICATION_LEVEL@@KW4VSS_ALTERNATE_WRITER_STATE@@_N1@Z") \
  X(legacy_Subscribe, "?Subscribe@CVssWriter@@QEAAJK@Z")                                                                   \
  X(legacy_Unsubscribe, "?Unsubscribe@CVssWriter@@QEAAJXZ")                                                                \
  X(legacy_InstallAlternateWriter, "?InstallAlternateWriter@CVssWriter@@QEAAJU_GUID@@0@Z")                                 \
  X(legacy_AreComponentsSelected, "?AreComponentsSelected@CVssWriter@@IEBA_NXZ")                                           \
  X(legacy_GetBackupType, "?GetBackupType@CVssWriter@@IEBA?AW4_VSS_BACKUP_TYPE@@XZ")                                       \
  X(legacy_GetContext, "?GetContext@CVssWriter@@IEBAJXZ")                                                                  \
  X(legacy_GetCurrentLevel, "?GetCurrentLevel@CVssWriter@@IEBA?AW4_VSS_APPLICATION_LEVEL@@XZ")                             \
  X(legacy_GetCurrentVolumeArray, "?GetCurrentVolumeArray@CVssWriter@@IEBAPEAPEBGXZ")                                      \
  X(legacy_GetCurrentVolumeCount, "?GetCurrentVolumeCount@CVssWriter@@IEBAIXZ")                                            \
  X(legacy_GetRestoreType, "?GetRestoreType@CVssWriter@@IEBA?AW4_VSS_RESTORE_TYPE@@XZ")                                    \
  X(legacy_GetSnapshotDeviceName, "?GetSnapshotDeviceName@CVssWriter@@IEBAJPEBGPEAPEBG@Z")                                 \
  X(legacy_IsBootableSystemStateBackedUp, "?IsBootableSystemStateBackedUp@CVssWriter@@IEBA_NXZ")                           \
  X(legacy_IsPartialFileSupportEnabled, "?IsPartialFileSupportEnabled@CVssWriter@@IEBA_NXZ")                               \
  X(legacy_IsPathAffected, "?IsPathAffected@CVssWriter@@IEBA_NPEBG@Z")                                                     \
  X(legacy_SetWriterFailure, "?SetWriterFailure@CVssWriter@@IEAAJJ@Z")                                                     \
  X(legacy_OnBackOffIOOnVolume, "?OnBackOffIOOnVolume@CVssWriter@@UEAA_NPEAGU_GUID@@1@Z")                                  \
  X(legacy_OnBackupComplete, "?OnBackupComplete@CVssWriter@@UEAA_NPEAVIVssWriterComponents@@@Z")                           \
  X(legacy_OnBackupShutdown, "?OnBackupShutdown@CVssWriter@@UEAA_NU_GUID@@@Z")                                             \
  X(legacy_OnContinueIOOnVolume, "?OnContinueIOOnVolume@CVssWriter@@UEAA_NPEAGU_GUID@@1@Z")                                \
  X(legacy_OnIdentify, "?OnIdentify@CVssWriter@@UEAA_NPEAVIVssCreateWriterMetadata@@@Z")                                   \
  X(legacy_OnPostRestore, "?OnPostRestore@CVssWriter@@UEAA_NPEAVIVssWriterComponents@@@Z")                                 \
  X(legacy_OnPostSnapshot, "?OnPostSnapshot@CVssWriter@@UEAA_NPEAVIVssWriterComponents@@@Z")                               \
  X(legacy_OnPreRestore, "?OnPreRestore@CVssWriter@@UEAA_NPEAVIVssWriterComponents@@@Z")                                   \
  X(legacy_OnPrepareBackup, "?OnPrepareBackup@CVssWriter@@UEAA_NPEAVIVssWriterComponents@@@Z")                             \
  X(legacy_OnVSSApplicationStartup, "?OnVSSApplicationStartup@CVssWriter@@UEAA_NXZ")                                       \
  X(legacy_OnVSSShutdown, "?OnVSSShutdown@CVssWriter@@UEAA_NXZ")

static void logLegacy(const char* name) { Rec("legacyExportUsed").c("export", name).h("hr", E_NOTIMPL).done(); }
#define LEGACY_STUB(fn, name)                                                        \
  extern "C" long long fn(void* rcx, void* rdx) {                                    \
    logLegacy(name);                                                                 \
    if (rt::ceq(name, "??0CVssWriter@@QEAA@XZ")) return (long long)rcx;              \
    if (rt::ceq(name, "?GetCurrentSnapshotSetId@CVssWriter@@IEBA?AU_GUID@@XZ")) {    \
      if (rdx) memset(rdx, 0, sizeof(GUID));                                         \
      return (long long)rdx;                                                         \
    }                                                                                \
    return (long long)E_NOTIMPL;                                                     \
  }                                                                                  \
  __pragma(comment(linker, "/export:" name "=" #fn))
LEGACY_MEMBERS(LEGACY_STUB)
LEGACY_STUB(legacy_GetCurrentSnapshotSetId, "?GetCurrentSnapshotSetId@CVssWriter@@IEBA?AU_GUID@@XZ")
// vswriter.h: CreateWriterEx(CVssWriterEx*, IVssWriterImpl**); vsbackup.h:
// CreateVssExamineWriterMetadataInternal(BSTR xml, IVssExamineWriterMetadata**). Both: *out = NULL.
extern "C" __declspec(dllexport) HRESULT WINAPI CreateWriterEx(void*, void** ppOut) {
  logLegacy("CreateWriterEx");
  if (ppOut) *ppOut = nullptr;
  return E_NOTIMPL;
}
extern "C" __declspec(dllexport) HRESULT WINAPI CreateVssExamineWriterMetadataInternal(BSTR, void** ppOut) {
  logLegacy("CreateVssExamineWriterMetadataInternal");
  if (ppOut) *ppOut = nullptr;
  return E_NOTIMPL;
}

// ---------------------------------------------------------------------------------------------
// Express writers (vswriter.h IVssExpressWriter / IVssCreateExpressWriterMetadata).
static wchar_t* store_path(const GUID& id) {  // %MBAM_STANDIN_STORE%\<WRITERID>.xml ; caller frees
  wchar_t* dir = env(L"MBAM_STANDIN_STORE");
  if (!dir) return nullptr;
  Buf b{}; b.wide(dir); b.add("\\"); b.guid(id); b.add(".xml");
  wchar_t* p = utf8_to_wide(b.p);
  b.release(); rt::free(dir);
  return p;
}

class ExpressMetadataImpl : public IVssCreateExpressWriterMetadata {
 public:
  LONG ref = 1; Meta* m;
  explicit ExpressMetadataImpl(Meta* meta) : m(meta) {}
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { return --ref; }  // the Meta stays owned by the express writer
  STDMETHOD(AddExcludeFiles)(LPCWSTR path, LPCWSTR spec, bool rec) override { return AddExclude(m, "express.AddExcludeFiles", path, spec, rec); }
  // Learn IVssCreateExpressWriterMetadata::AddComponent: only VSS_CT_FILEGROUP; name required,
  // no backslashes; icon NULL => cbIcon 0; bRestoreMetadata and bNotifyOnBackupComplete
  // "reserved ... should always be set to false" (CHOICE: true is E_INVALIDARG); flags cannot
  // include VSS_CF_APP_ROLLBACK_RECOVERY or VSS_CF_BACKUP_RECOVERY; duplicate -> OBJECT_ALREADY_EXISTS.
  STDMETHOD(AddComponent)(VSS_COMPONENT_TYPE ct, LPCWSTR lp, LPCWSTR name, LPCWSTR caption, const BYTE* icon, UINT cbIcon,
                          bool restoreMetadata, bool notify, bool selectable, bool selectableForRestore, DWORD flags) override {
    const char* why = ct != VSS_CT_FILEGROUP ? "componentTypeNotFileGroup" : (!name || !*name) ? "nameRequired"
                      : wcontains(name, L'\\') ? "nameHasBackslash" : (!icon && cbIcon) ? "cbIconWithoutIcon"
                      : restoreMetadata ? "restoreMetadataMustBeFalse" : notify ? "notifyOnBackupCompleteMustBeFalse"
                      : (flags & (VSS_CF_APP_ROLLBACK_RECOVERY | VSS_CF_BACKUP_RECOVERY)) ? "forbiddenComponentFlags" : nullptr;
    HRESULT hr = why ? E_INVALIDARG : find_comp(m, lp, name) ? VSS_E_OBJECT_ALREADY_EXISTS : S_OK;
    Rec("express.AddComponent").n("type", ct).s("logicalPath", lp).s("componentName", name).s("caption", caption)
        .t("restoreMetadata", restoreMetadata).t("notifyOnBackupComplete", notify).t("selectable", selectable)
        .t("selectableForRestore", selectableForRestore).n("componentFlags", flags).c("refused", why).h("hr", hr).done();
    if (hr != S_OK) return hr;
    MComp& c = m->comps.push();
    c.type = ct; c.lp = wdup(lp); c.name = wdup(name); c.caption = wdup(caption); c.selectable = selectable;
    c.selectableForRestore = selectableForRestore; c.flags = flags;
    return S_OK;
  }
  // Learn ...::AddFilesToFileGroup: component must exist (VSS_E_OBJECT_NOT_FOUND) and be a
  // file group (E_INVALIDARG); wszAlternateLocation "reserved and must be NULL"; path without
  // wildcards; filespec without backslashes; mask cannot include DIFFERENTIAL/INCREMENTAL/LOG
  // _BACKUP_REQUIRED.
  STDMETHOD(AddFilesToFileGroup)(LPCWSTR lp, LPCWSTR group, LPCWSTR path, LPCWSTR spec, bool rec, LPCWSTR alt, DWORD mask) override {
    MComp* c = find_comp(m, lp, group);
    const char* why = !c ? nullptr : c->type != VSS_CT_FILEGROUP ? "notAFileGroup" : alt ? "alternateLocationMustBeNull"
                      : (!path || wcontains(path, L'*') || wcontains(path, L'?')) ? "pathInvalid"
                      : (!spec || wcontains(spec, L'\\')) ? "filespecInvalid"
                      : (mask & (VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED | VSS_FSBT_INCREMENTAL_BACKUP_REQUIRED | VSS_FSBT_LOG_BACKUP_REQUIRED)) ? "forbiddenBackupTypeMask" : nullptr;
    HRESULT hr = !c ? VSS_E_OBJECT_NOT_FOUND : why ? E_INVALIDARG : S_OK;
    Rec("express.AddFilesToFileGroup").s("logicalPath", lp).s("groupName", group).s("path", path).s("filespec", spec).t("recursive", rec)
        .s("alternateLocation", alt).n("backupTypeMask", mask).c("refused", why).h("hr", hr).done();
    if (hr != S_OK) return hr;
    MFile& f = c->files.push(); f.path = wdup(path); f.spec = wdup(spec); f.recursive = rec; f.mask = mask;
    return S_OK;
  }
  // Learn ...::SetRestoreMethod: method cannot be UNDEFINED, RESTORE_TO_ALTERNATE_LOCATION or
  // CUSTOM; writerRestore "must be set to VSS_WRE_NEVER"; wszUserProcedure reserved, NULL;
  // STOP_RESTORE_START / RESTORE_STOP_START need the service name.
  STDMETHOD(SetRestoreMethod)(VSS_RESTOREMETHOD_ENUM method, LPCWSTR service, LPCWSTR userProc, VSS_WRITERRESTORE_ENUM wre, bool reboot) override {
    const char* why = (method == VSS_RME_UNDEFINED || method == VSS_RME_RESTORE_TO_ALTERNATE_LOCATION || method == VSS_RME_CUSTOM || method > VSS_RME_RESTORE_STOP_START) ? "methodNotAllowed"
                      : wre != VSS_WRE_NEVER ? "writerRestoreMustBeNever" : userProc ? "userProcedureMustBeNull"
                      : ((method == VSS_RME_STOP_RESTORE_START || method == VSS_RME_RESTORE_STOP_START) && (!service || !*service)) ? "serviceRequired" : nullptr;
    HRESULT hr = why ? E_INVALIDARG : S_OK;
    Rec("express.SetRestoreMethod").n("method", method).s("service", service).s("userProcedure", userProc).n("writerRestore", wre)
        .t("rebootRequired", reboot).c("refused", why).h("hr", hr).done();
    if (hr != S_OK) return hr;
    m->restoreSet = true; m->method = method; m->service = wdup(service); m->writerRestore = wre; m->reboot = reboot;
    return S_OK;
  }
  // Learn ...AddComponentDependency (IVssCreateWriterMetadata page, same contract). CHOICE: the
  // "for" component must exist in this metadata.
  STDMETHOD(AddComponentDependency)(LPCWSTR forLp, LPCWSTR forName, VSS_ID onWriter, LPCWSTR onLp, LPCWSTR onName) override {
    MComp* c = find_comp(m, forLp, forName);
    HRESULT hr = c ? S_OK : VSS_E_OBJECT_NOT_FOUND;
    Rec("express.AddComponentDependency").s("forLogicalPath", forLp).s("forComponentName", forName).g("onWriterId", onWriter)
        .s("onLogicalPath", onLp).s("onComponentName", onName).h("hr", hr).done();
    if (c) { MDep& d = c->deps.push(); d.onWriter = onWriter; d.onLp = wdup(onLp); d.onName = wdup(onName); }
    return hr;
  }
  // Learn ...::SetBackupSchema: "Only the VSS_BS_UNDEFINED, VSS_BS_COPY and
  // VSS_BS_INDEPENDENT_SYSTEM_STATE backup schema types are supported by express writers."
  STDMETHOD(SetBackupSchema)(DWORD mask) override {
    HRESULT hr = (mask & ~(DWORD)(VSS_BS_COPY | VSS_BS_INDEPENDENT_SYSTEM_STATE)) ? E_INVALIDARG : S_OK;
    Rec("express.SetBackupSchema").n("schema", mask).h("hr", hr).done();
    if (hr == S_OK) m->schema = mask;
    return hr;
  }
  STDMETHOD(SaveAsXML)(BSTR* out) override {
    if (!out) return E_INVALIDARG;
    *out = meta_xml(m);
    Rec("express.SaveAsXML").s("xml", *out).done();
    return S_OK;
  }
};

// Minimal attribute reader for XML text (UTF-16): value of name="..." after `from`, or NULL.
static wchar_t* xml_attr(const wchar_t* xml, const wchar_t* name) {
  SIZE_T nl = wlen(name);
  for (const wchar_t* p = xml; p && *p; ++p) {
    if ((p == xml || p[-1] == L' ' || p[-1] == L'\t' || p[-1] == L'\n' || p[-1] == L'\r')) {
      SIZE_T i = 0; while (i < nl && p[i] == name[i]) ++i;
      if (i == nl && p[nl] == L'=' && p[nl + 1] == L'"') {
        const wchar_t* v = p + nl + 2; const wchar_t* e = v; while (*e && *e != L'"') ++e;
        wchar_t* out = (wchar_t*)alloc((e - v + 1) * 2); memcpy(out, v, (e - v) * 2); return out;
      }
    }
  }
  return nullptr;
}
static bool wstarts_ws(const wchar_t* s, const wchar_t* prefix) {
  while (*s == L' ' || *s == L'\r' || *s == L'\n' || *s == L'\t' || *s == 0xFEFF) ++s;
  while (*prefix && *s == *prefix) ++s, ++prefix;
  return !*prefix;
}
static bool wfind(const wchar_t* s, const wchar_t* needle) {
  SIZE_T n = wlen(needle);
  for (; s && *s; ++s) { SIZE_T i = 0; while (i < n && s[i] == needle[i]) ++i; if (i == n) return true; }
  return false;
}

class ExpressWriterImpl : public IVssExpressWriter {
 public:
  LONG ref = 1; Meta* meta = nullptr; wchar_t* loadedXml = nullptr; VSS_ID loadedId{}; bool created = false;
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { LONG r = --ref; Rec("express.Release").n("ref", r).done(); return r; }
  // Learn IVssExpressWriter::CreateMetadata: usageType "The only valid values ... are
  // VSS_UT_BOOTABLESYSTEMSTATE, VSS_UT_SYSTEMSERVICE, and VSS_UT_USERDATA".
  STDMETHOD(CreateMetadata)(VSS_ID writerId, LPCWSTR writerName, VSS_USAGE_TYPE usage, DWORD major, DWORD minor, DWORD reserved,
                            IVssCreateExpressWriterMetadata** pp) override {
    const char* why = !pp ? "nullOut" : (!writerName || !*writerName) ? "nameRequired"
                      : (usage != VSS_UT_BOOTABLESYSTEMSTATE && usage != VSS_UT_SYSTEMSERVICE && usage != VSS_UT_USERDATA) ? "usageNotAllowed" : nullptr;
    HRESULT hr = why ? E_INVALIDARG : S_OK;
    Rec("express.CreateMetadata").g("writerId", writerId).s("writerName", writerName).n("usage", usage).n("major", major).n("minor", minor)
        .n("reserved", reserved).c("refused", why).h("hr", hr).done();
    if (hr != S_OK) return hr;
    meta = (Meta*)alloc(sizeof(Meta));
    meta->writerId = writerId; meta->instanceId = writerId;  // CHOICE: instance id = writer id (no process)
    meta->name = wdup(writerName); meta->usage = usage; meta->source = VSS_ST_OTHER; meta->major = major; meta->minor = minor;
    created = true; rt::free(loadedXml); loadedXml = nullptr;
    *pp = new ExpressMetadataImpl(meta);
    return S_OK;
  }
  // Learn IVssExpressWriter::LoadMetadata(metadata, reserved) documents only S_OK and
  // VSS_E_INVALID_XML_DOCUMENT ("The XML document is not valid"), so every document problem is
  // VSS_E_INVALID_XML_DOCUMENT. CHOICE: the document must be a WRITER_METADATA with an
  // IDENTIFICATION writerId, and the express-writer restrictions are re-checked on it (no
  // DATABASE components, writerRestore never, usage one of the three). reserved != 0 is not a
  // document problem: E_INVALIDARG (docs silent).
  STDMETHOD(LoadMetadata)(LPCWSTR xml, DWORD reserved) override {
    HRESULT hr = S_OK; const char* why = nullptr;
    wchar_t* id = xml ? xml_attr(xml, L"writerId") : nullptr;
    wchar_t* usage = xml ? xml_attr(xml, L"usage") : nullptr;
    wchar_t* wre = xml ? xml_attr(xml, L"writerRestore") : nullptr;
    if (reserved) { hr = E_INVALIDARG; why = "reservedMustBeZero"; }
    else if (!xml || !wstarts_ws(xml, L"<WRITER_METADATA") || !id) { hr = VSS_E_INVALID_XML_DOCUMENT; why = "notWriterMetadata"; }
    else if (wfind(xml, L"<DATABASE")) { hr = VSS_E_INVALID_XML_DOCUMENT; why = "databaseComponent"; }
    else if (wre && !weq(wre, L"never")) { hr = VSS_E_INVALID_XML_DOCUMENT; why = "writerRestoreMustBeNever"; }
    else if (usage && !weq(usage, L"USER_DATA") && !weq(usage, L"SYSTEM_SERVICE") && !weq(usage, L"BOOTABLE_SYSTEM_STATE")) { hr = VSS_E_INVALID_XML_DOCUMENT; why = "usageNotAllowed"; }
    GUID g{};
    if (hr == S_OK) { Buf b{}; b.wide(id); if (!parse_guid(b.p, &g)) { hr = VSS_E_INVALID_XML_DOCUMENT; why = "badWriterId"; } b.release(); }
    Rec("express.LoadMetadata").s("writerId", id).n("reserved", reserved).n("chars", (long long)wlen(xml)).c("refused", why).h("hr", hr).done();
    rt::free(id); rt::free(usage); rt::free(wre);
    if (hr != S_OK) return hr;
    rt::free(loadedXml); loadedXml = wdup(xml); loadedId = g; meta = nullptr;
    return S_OK;
  }
  // Learn IVssExpressWriter::Register: stores the metadata in the express writer metadata
  // store; VSS_E_OBJECT_ALREADY_EXISTS "Metadata has already been stored for this writer".
  // "Before using this method, the caller must have either used LoadMetadata ... or used
  // CreateMetadata" -- CHOICE: otherwise VSS_E_BAD_STATE. Store = %MBAM_STANDIN_STORE%.
  STDMETHOD(Register)() override {
    HRESULT hr = S_OK; const char* why = nullptr;
    BSTR xml = nullptr; GUID id{};
    if (meta) { xml = meta_xml(meta); id = meta->writerId; }
    else if (loadedXml) { xml = SysAllocString(loadedXml); id = loadedId; }
    else { hr = VSS_E_BAD_STATE; why = "noMetadata"; }
    wchar_t* path = hr == S_OK ? store_path(id) : nullptr;
    if (hr == S_OK && !path) { hr = E_FAIL; why = "MBAM_STANDIN_STORE unset"; }
    if (hr == S_OK) {
      HANDLE h = CreateFileW(path, GENERIC_WRITE, 0, nullptr, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
      if (h == INVALID_HANDLE_VALUE) { hr = GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES ? VSS_E_OBJECT_ALREADY_EXISTS : E_FAIL; why = hr == E_FAIL ? "storeNotWritable" : "alreadyRegistered"; }
      else { Buf b{}; b.wide(xml); DWORD w; WriteFile(h, b.p, (DWORD)b.n, &w, nullptr); CloseHandle(h); b.release(); }
    }
    Rec("express.Register").g("writerId", id).s("store", path).c("refused", why).h("hr", hr).done();
    if (xml && hr == S_OK) log_xml("express.registeredXml", id, xml);
    SysFreeString(xml); rt::free(path);
    return hr;
  }
  // Learn IVssExpressWriter::Unregister: VSS_E_OBJECT_NOT_FOUND "The writerId parameter
  // specified a writer that does not exist". "Before using this method, the caller must have
  // used the CreateMetadata method" -- CHOICE: logged as a violation, not refused.
  STDMETHOD(Unregister)(VSS_ID writerId) override {
    wchar_t* path = store_path(writerId);
    HRESULT hr = !path ? E_FAIL : DeleteFileW(path) ? S_OK : GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES ? VSS_E_OBJECT_NOT_FOUND : E_FAIL;
    Rec("express.Unregister").g("writerId", writerId).s("store", path).c("violation", created ? nullptr : "CreateMetadataNotCalledFirst").h("hr", hr).done();
    rt::free(path);
    return hr;
  }
};

// vswriter.h: extern "C" HRESULT STDAPICALLTYPE CreateVssExpressWriterInternal(IVssExpressWriter**)
extern "C" __declspec(dllexport) HRESULT WINAPI CreateVssExpressWriterInternal(IVssExpressWriter** pp) {
  HRESULT hr = pp ? S_OK : E_INVALIDARG;
  Rec("CreateVssExpressWriterInternal").h("hr", hr).done();
  if (pp) *pp = new ExpressWriterImpl();
  return hr;
}

// ---------------------------------------------------------------------------------------------
// Requester side (vsbackup.h IVssBackupComponents, vss.h IVssAsync).
class AsyncImpl : public IVssAsync {
 public:
  LONG ref = 1; const char* op; HANDLE done; volatile LONG status = VSS_S_ASYNC_PENDING; HRESULT failure = S_OK; bool cancelCalled = false;
  explicit AsyncImpl(const char* o) : op(o) { done = CreateEventW(nullptr, TRUE, FALSE, nullptr); }
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { LONG r = --ref; Rec("async.Release").c("op", op).n("ref", r).t("cancelCalled", cancelCalled).done(); return r; }
  void complete(HRESULT hr) {
    EnterCriticalSection(&g_cs);
    bool was = status == VSS_S_ASYNC_PENDING;
    if (was) { status = SUCCEEDED(hr) ? VSS_S_ASYNC_FINISHED : hr; failure = hr; }
    LeaveCriticalSection(&g_cs);
    if (was) { Rec("async.complete").c("op", op).h("status", status).done(); SetEvent(done); }
  }
  // Learn IVssAsync::Cancel: S_OK cancelled now; VSS_S_ASYNC_CANCELLED already cancelled;
  // VSS_S_ASYNC_FINISHED already completed; an operation that failed returns its error.
  STDMETHOD(Cancel)() override {
    EnterCriticalSection(&g_cs);
    cancelCalled = true;
    HRESULT r = status == VSS_S_ASYNC_PENDING ? S_OK : status;
    if (status == VSS_S_ASYNC_PENDING) status = VSS_S_ASYNC_CANCELLED;
    LeaveCriticalSection(&g_cs);
    SetEvent(done);
    Rec("async.Cancel").c("op", op).h("hr", r).done();
    return r;
  }
  // Learn IVssAsync::Wait: S_OK "Call QueryStatus to determine the final status"; a failed
  // operation's error is returned. What a Wait that times out returns: docs silent. CHOICE:
  // the scenario's `set waitTimeoutHr` (default S_OK; QueryStatus then says VSS_S_ASYNC_PENDING).
  STDMETHOD(Wait)(DWORD ms) override {
    DWORD w = WaitForSingleObject(done, ms);
    HRESULT r = FAILED(status) ? status : w == WAIT_TIMEOUT ? g_sc.waitTimeoutHr : S_OK;
    Rec("async.Wait").c("op", op).n("ms", ms == INFINITE ? -1 : (long long)ms).t("timedOut", w == WAIT_TIMEOUT).h("hr", r).done();
    return r;
  }
  // Learn IVssAsync::QueryStatus: *pHrResult = VSS_S_ASYNC_PENDING / FINISHED / CANCELLED (or the
  // operation's error); returns S_OK; NULL pHrResult is E_INVALIDARG.
  STDMETHOD(QueryStatus)(HRESULT* phr, INT* reserved) override {
    if (!phr) return E_INVALIDARG;
    *phr = status;
    if (reserved) *reserved = 0;
    Rec("async.QueryStatus").c("op", op).h("status", *phr).done();
    return S_OK;
  }
};

class ExamineImpl : public IVssExamineWriterMetadata {
 public:
  LONG ref = 1; VSS_ID instanceId, writerId; wchar_t* name; VSS_USAGE_TYPE usage; VSS_SOURCE_TYPE source; DWORD schema; BSTR xml; UINT ncomps; const char* origin;
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { return --ref; }
  STDMETHOD(GetIdentity)(VSS_ID* inst, VSS_ID* w, BSTR* name_, VSS_USAGE_TYPE* u, VSS_SOURCE_TYPE* s) override {
    if (inst) *inst = instanceId; if (w) *w = writerId; if (name_) *name_ = SysAllocString(name ? name : L""); if (u) *u = usage; if (s) *s = source;
    Rec("examine.GetIdentity").g("writerId", writerId).s("name", name).c("origin", origin).done();
    return S_OK;
  }
  STDMETHOD(GetFileCounts)(UINT* inc, UINT* exc, UINT* comps) override { if (inc) *inc = 0; if (exc) *exc = 0; if (comps) *comps = ncomps; return S_OK; }
  HRESULT na(const char* m) { Rec("examine.notImplemented").c("method", m).done(); return E_NOTIMPL; }
  STDMETHOD(GetIncludeFile_)() override { return na("GetIncludeFile"); }
  STDMETHOD(GetExcludeFile_)() override { return na("GetExcludeFile"); }
  STDMETHOD(GetComponent_)() override { return na("GetComponent"); }
  STDMETHOD(GetRestoreMethod_)() override { return na("GetRestoreMethod"); }
  STDMETHOD(GetAlternateLocationMapping_)() override { return na("GetAlternateLocationMapping"); }
  STDMETHOD(GetBackupSchema)(DWORD* p) override { if (!p) return E_INVALIDARG; *p = schema; return S_OK; }
  STDMETHOD(GetDocument_)() override { return na("GetDocument"); }
  STDMETHOD(SaveAsXML)(BSTR* p) override { if (!p) return E_INVALIDARG; *p = SysAllocString(xml); Rec("examine.SaveAsXML").g("writerId", writerId).done(); return S_OK; }
  STDMETHOD(LoadFromXML)(BSTR) override { return na("LoadFromXML"); }
};

static VSS_USAGE_TYPE usage_from(const wchar_t* t) {
  return weq(t, L"BOOTABLE_SYSTEM_STATE") ? VSS_UT_BOOTABLESYSTEMSTATE : weq(t, L"SYSTEM_SERVICE") ? VSS_UT_SYSTEMSERVICE
         : weq(t, L"USER_DATA") ? VSS_UT_USERDATA : weq(t, L"OTHER") ? VSS_UT_OTHER : VSS_UT_UNDEFINED;
}

class BackupComponentsImpl : public IVssBackupComponents {
 public:
  LONG ref = 1; bool initialized = false, gathered = false, gatherStarted = false, stateSet = false, statusGathered = false;
  Vec<ExamineImpl*> metas;
  struct Status { VSS_ID inst, writer; wchar_t* name; VSS_WRITER_STATE state; HRESULT hr; };
  Vec<Status> statuses;
  STDMETHOD(QueryInterface)(const IID&, void** ppv) override { if (ppv) *ppv = nullptr; return E_NOINTERFACE; }
  ULONG STDMETHODCALLTYPE AddRef() override { return InterlockedIncrement(&ref); }
  ULONG STDMETHODCALLTYPE Release() override { LONG r = --ref; Rec("backup.Release").n("ref", r).done(); return r; }
  HRESULT na(const char* m) { Rec("backup.notImplemented").c("method", m).done(); return E_NOTIMPL; }

  STDMETHOD(GetWriterComponentsCount_)() override { return na("GetWriterComponentsCount"); }
  STDMETHOD(GetWriterComponents_)() override { return na("GetWriterComponents"); }
  STDMETHOD(InitializeForBackup)(BSTR xml) override {
    HRESULT hr = initialized ? VSS_E_BAD_STATE : S_OK;  // CHOICE: a second call is a bad state
    Rec("backup.InitializeForBackup").t("withXml", xml != nullptr).h("hr", hr).done();
    initialized = true;
    return hr;
  }
  // Learn "Overview of Backup Initialization": SetBackupState is a requester step before
  // GatherWriterMetadata. Recorded with whether metadata had already been gathered.
  STDMETHOD(SetBackupState)(bool selectComponents, bool bootable, VSS_BACKUP_TYPE type, bool partial) override {
    HRESULT hr = initialized ? S_OK : VSS_E_BAD_STATE;
    Rec("backup.SetBackupState").t("selectComponents", selectComponents).t("backupBootableSystemState", bootable).n("backupType", type)
        .t("partialFileSupport", partial).t("beforeGatherWriterMetadata", !gatherStarted).h("hr", hr).done();
    stateSet = true;
    return hr;
  }
  STDMETHOD(InitializeForRestore_)() override { return na("InitializeForRestore"); }
  STDMETHOD(SetRestoreState_)() override { return na("SetRestoreState"); }

  struct GatherJob { BackupComponentsImpl* self; AsyncImpl* async; bool status; };
  static DWORD WINAPI gatherMain(void* p) {
    GatherJob* j = (GatherJob*)p;
    BackupComponentsImpl* self = j->self;
    if (g_sc.gatherNever) { Rec("async.neverCompletes").c("op", j->async->op).done(); return 0; }  // scenario: caller must Cancel
    if (g_sc.gatherDelay) { Rec("async.delayed").c("op", j->async->op).n("ms", g_sc.gatherDelay).done(); Sleep(g_sc.gatherDelay); }
    if (!j->status) {
      // Learn GatherWriterMetadata: "will generate an Identify event to communicate with writers".
      EnterCriticalSection(&g_cs); WriterImpl* w = g_writer; LeaveCriticalSection(&g_cs);
      if (w) {
        w->deliverSync(EV_IDENTIFY, "GatherWriterMetadata");
        if (w->haveMeta) {
          ExamineImpl* e = new ExamineImpl(); e->instanceId = w->instanceId; e->writerId = w->writerId; e->name = w->name; e->usage = w->usage;
          e->source = w->source; e->schema = w->lastMeta.schema; e->xml = meta_xml(&w->lastMeta); e->ncomps = w->lastMeta.comps.n; e->origin = "subscribedWriter";
          self->metas.push() = e;
        }
      }
      // Express registrations from the store. CHOICE: each registration is reported as its own
      // writer (on Windows the in-box metadata store writer serves them; how it reports them to
      // a requester is not documented).
      wchar_t* dir = env(L"MBAM_STANDIN_STORE");
      if (dir) {
        Buf pat{}; pat.wide(dir); pat.add("\\*.xml"); wchar_t* wpat = utf8_to_wide(pat.p); pat.release();
        WIN32_FIND_DATAW fd; HANDLE h = FindFirstFileW(wpat, &fd);
        if (h != INVALID_HANDLE_VALUE) {
          do {
            Buf fp{}; fp.wide(dir); fp.add("\\"); fp.wide(fd.cFileName); wchar_t* wfp = utf8_to_wide(fp.p); fp.release();
            char* text = read_file(wfp, nullptr); rt::free(wfp);
            if (!text) continue;
            wchar_t* wx = utf8_to_wide(text); rt::free(text);
            ExamineImpl* e = new ExamineImpl();
            wchar_t* id = xml_attr(wx, L"writerId"); wchar_t* inst = xml_attr(wx, L"instanceId"); wchar_t* u = xml_attr(wx, L"usage");
            Buf b{}; b.wide(id); parse_guid(b.p ? b.p : "", &e->writerId); b.release();
            Buf c{}; c.wide(inst); if (!inst || !parse_guid(c.p, &e->instanceId)) e->instanceId = e->writerId; c.release();
            e->name = xml_attr(wx, L"friendlyName"); e->usage = usage_from(u); e->source = VSS_ST_OTHER; e->xml = SysAllocString(wx);
            wchar_t* bs = xml_attr(wx, L"backupSchema"); if (bs) { Buf d{}; d.wide(bs); e->schema = (DWORD)parse_int(d.p); d.release(); }
            e->origin = "expressStore";
            rt::free(id); rt::free(inst); rt::free(u); rt::free(bs); rt::free(wx);
            self->metas.push() = e;
          } while (FindNextFileW(h, &fd));
          FindClose(h);
        }
        rt::free(wpat); rt::free(dir);
      }
      // Learn IVssAsync::Cancel: the operation is cancelled -- a gather that finishes after
      // Cancel delivers nothing: GetWriterMetadataCount stays VSS_E_BAD_STATE (reviewer's D7).
      EnterCriticalSection(&g_cs); bool cancelled = j->async->status == VSS_S_ASYNC_CANCELLED; LeaveCriticalSection(&g_cs);
      if (cancelled) {
        Rec("backup.gatherDiscarded").c("op", j->async->op).c("why", "cancelled").n("writers", self->metas.n).done();
        self->metas.n = 0;
      } else {
        self->gathered = true;
        Rec("backup.gathered").n("writers", self->metas.n).done();
      }
    } else {
      EnterCriticalSection(&g_cs); WriterImpl* w = g_writer; LeaveCriticalSection(&g_cs);
      if (w) { Status& s = self->statuses.push(); s.inst = w->instanceId; s.writer = w->writerId; s.name = w->name; s.state = w->state; s.hr = w->stateHr; }
      for (UINT i = 0; i < self->metas.n; ++i) {
        if (rt::ceq(self->metas[i]->origin, "expressStore")) {
          Status& s = self->statuses.push(); s.inst = self->metas[i]->instanceId; s.writer = self->metas[i]->writerId; s.name = self->metas[i]->name;
          s.state = VSS_WS_STABLE; s.hr = S_OK;  // CHOICE: express writers run no code, always stable
        }
      }
      self->statusGathered = true;
    }
    j->async->complete(S_OK);
    return 0;
  }
  HRESULT startGather(IVssAsync** pp, bool status) {
    // Learn GatherWriterMetadata: E_INVALIDARG for NULL; VSS_E_BAD_STATE when not initialised.
    if (!pp) return E_INVALIDARG;
    *pp = nullptr;
    // Learn GatherWriterMetadata: "should be called only once during the lifetime of a given
    // IVssBackupComponents object" -- a second call is VSS_E_BAD_STATE ("refused":"calledTwice")
    // and adds no second listing.
    const char* why = !initialized ? "notInitialized" : (status && !gathered) ? "metadataNotGathered"  // CHOICE: status needs metadata first
                      : (!status && gatherStarted) ? "calledTwice" : nullptr;
    HRESULT hr = why ? VSS_E_BAD_STATE : S_OK;
    const char* op = status ? "GatherWriterStatus" : "GatherWriterMetadata";
    Rec(status ? "backup.GatherWriterStatus" : "backup.GatherWriterMetadata").t("setBackupStateCalledBefore", stateSet)
        .t("asyncNeverCompletes", g_sc.gatherNever).c("refused", why).h("hr", hr).done();
    if (hr != S_OK) return hr;
    if (!status) gatherStarted = true; else statuses.n = 0;
    AsyncImpl* a = new AsyncImpl(op);
    a->AddRef();  // one reference for the job
    GatherJob* j = (GatherJob*)alloc(sizeof(GatherJob)); j->self = this; j->async = a; j->status = status;
    HANDLE t = CreateThread(nullptr, 0, &gatherMain, j, 0, nullptr);
    CloseHandle(t);
    *pp = a;
    return S_OK;
  }
  STDMETHOD(GatherWriterMetadata)(IVssAsync** pp) override { load_scenario(); return startGather(pp, false); }
  STDMETHOD(GetWriterMetadataCount)(UINT* pc) override {
    if (!pc) return E_INVALIDARG;
    HRESULT hr = gathered ? S_OK : VSS_E_BAD_STATE;
    *pc = gathered ? metas.n : 0;
    Rec("backup.GetWriterMetadataCount").n("count", *pc).h("hr", hr).done();
    return hr;
  }
  STDMETHOD(GetWriterMetadata)(UINT i, VSS_ID* inst, IVssExamineWriterMetadata** pp) override {
    HRESULT hr = !pp ? E_INVALIDARG : !gathered ? VSS_E_BAD_STATE : i >= metas.n ? E_INVALIDARG : S_OK;
    Rec("backup.GetWriterMetadata").n("index", i).h("hr", hr).done();
    if (hr != S_OK) { if (pp) *pp = nullptr; return hr; }
    if (inst) *inst = metas[i]->instanceId;
    metas[i]->AddRef();
    *pp = metas[i];
    return S_OK;
  }
  STDMETHOD(FreeWriterMetadata)() override { Rec("backup.FreeWriterMetadata").done(); return S_OK; }
  STDMETHOD(AddComponent_)() override { return na("AddComponent"); }
  STDMETHOD(PrepareForBackup_)() override { return na("PrepareForBackup"); }
  STDMETHOD(AbortBackup)() override {
    Rec("backup.AbortBackup").done();
    EnterCriticalSection(&g_cs); WriterImpl* w = g_writer; LeaveCriticalSection(&g_cs);
    if (w && w->backupInProgress) w->abort("requesterAbortBackup");  // Learn OnAbort: AbortBackup generates Abort
    return S_OK;
  }
  STDMETHOD(GatherWriterStatus)(IVssAsync** pp) override { return startGather(pp, true); }
  STDMETHOD(GetWriterStatusCount)(UINT* pc) override {
    if (!pc) return E_INVALIDARG;
    HRESULT hr = statusGathered ? S_OK : VSS_E_BAD_STATE;
    *pc = statusGathered ? statuses.n : 0;
    Rec("backup.GetWriterStatusCount").n("count", *pc).h("hr", hr).done();
    return hr;
  }
  STDMETHOD(FreeWriterStatus)() override { Rec("backup.FreeWriterStatus").done(); return S_OK; }
  STDMETHOD(GetWriterStatus)(UINT i, VSS_ID* inst, VSS_ID* w, BSTR* name, VSS_WRITER_STATE* st, HRESULT* hrf) override {
    HRESULT hr = !statusGathered ? VSS_E_BAD_STATE : i >= statuses.n ? E_INVALIDARG : S_OK;
    Rec("backup.GetWriterStatus").n("index", i).n("state", hr == S_OK ? statuses[i].state : 0).h("hr", hr).done();
    if (hr != S_OK) return hr;
    Status& s = statuses[i];
    if (inst) *inst = s.inst; if (w) *w = s.writer; if (name) *name = SysAllocString(s.name ? s.name : L""); if (st) *st = s.state; if (hrf) *hrf = s.hr;
    return S_OK;
  }
  STDMETHOD(SetBackupSucceeded_)() override { return na("SetBackupSucceeded"); }
  STDMETHOD(SetBackupOptions_)() override { return na("SetBackupOptions"); }
  STDMETHOD(SetSelectedForRestore_)() override { return na("SetSelectedForRestore"); }
  STDMETHOD(SetRestoreOptions_)() override { return na("SetRestoreOptions"); }
  STDMETHOD(SetAdditionalRestores_)() override { return na("SetAdditionalRestores"); }
  STDMETHOD(SetPreviousBackupStamp_)() override { return na("SetPreviousBackupStamp"); }
  STDMETHOD(SaveAsXML_)() override { return na("SaveAsXML"); }
  STDMETHOD(BackupComplete_)() override { return na("BackupComplete"); }
  STDMETHOD(AddAlternativeLocationMapping_)() override { return na("AddAlternativeLocationMapping"); }
  STDMETHOD(AddRestoreSubcomponent_)() override { return na("AddRestoreSubcomponent"); }
  STDMETHOD(SetFileRestoreStatus_)() override { return na("SetFileRestoreStatus"); }
  STDMETHOD(AddNewTarget_)() override { return na("AddNewTarget"); }
  STDMETHOD(SetRangesFilePath_)() override { return na("SetRangesFilePath"); }
  STDMETHOD(PreRestore_)() override { return na("PreRestore"); }
  STDMETHOD(PostRestore_)() override { return na("PostRestore"); }
  STDMETHOD(SetContext)(LONG ctx) override { Rec("backup.SetContext").n("context", ctx).done(); return initialized ? S_OK : VSS_E_BAD_STATE; }
  STDMETHOD(StartSnapshotSet_)() override { return na("StartSnapshotSet"); }
  STDMETHOD(AddToSnapshotSet_)() override { return na("AddToSnapshotSet"); }
  STDMETHOD(DoSnapshotSet_)() override { return na("DoSnapshotSet"); }
  STDMETHOD(DeleteSnapshots_)() override { return na("DeleteSnapshots"); }
  STDMETHOD(ImportSnapshots_)() override { return na("ImportSnapshots"); }
  STDMETHOD(BreakSnapshotSet_)() override { return na("BreakSnapshotSet"); }
  STDMETHOD(GetSnapshotProperties_)() override { return na("GetSnapshotProperties"); }
  STDMETHOD(Query_)() override { return na("Query"); }
  STDMETHOD(IsVolumeSupported_)() override { return na("IsVolumeSupported"); }
  STDMETHOD(DisableWriterClasses_)() override { return na("DisableWriterClasses"); }
  STDMETHOD(EnableWriterClasses_)() override { return na("EnableWriterClasses"); }
  STDMETHOD(DisableWriterInstances_)() override { return na("DisableWriterInstances"); }
  STDMETHOD(ExposeSnapshot_)() override { return na("ExposeSnapshot"); }
  STDMETHOD(RevertToSnapshot_)() override { return na("RevertToSnapshot"); }
  STDMETHOD(QueryRevertStatus_)() override { return na("QueryRevertStatus"); }
};

// vsbackup.h: CreateVssBackupComponents is an inline wrapper over the exported
// CreateVssBackupComponentsInternal(IVssBackupComponents**) (MinGW-w64 libvssapi.a exports it).
extern "C" __declspec(dllexport) HRESULT WINAPI CreateVssBackupComponentsInternal(IVssBackupComponents** pp) {
  HRESULT hr = pp ? S_OK : E_INVALIDARG;
  Rec("CreateVssBackupComponentsInternal").h("hr", hr).done();
  if (pp) *pp = new BackupComponentsImpl();
  return hr;
}

// Test helper export (not part of vssapi.dll): lets a driver wait until the scenario's sequencer
// has run all steps. Returns TRUE when done within ms.
extern "C" __declspec(dllexport) BOOL WINAPI StandinWaitScenarioDone(DWORD ms) {
  EnterCriticalSection(&g_cs); WriterImpl* w = g_writer; LeaveCriticalSection(&g_cs);
  if (!w || !w->idleEvent) return TRUE;
  return WaitForSingleObject(w->idleEvent, ms) == WAIT_OBJECT_0;
}

extern "C" BOOL WINAPI DllMain(HMODULE, DWORD reason, void*) {
  if (reason == 1 /* DLL_PROCESS_ATTACH */) {
    InitializeCriticalSection(&g_cs);
    InitializeCriticalSection(&g_logcs);
    g_t0 = GetTickCount64();
    wchar_t* path = env(L"MBAM_STANDIN_LOG");
    if (path) {
      g_log = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
      if (g_log == INVALID_HANDLE_VALUE) g_log = nullptr;
      rt::free(path);
    }
    Rec("load").c("dll", "vssapi stand-in (test-only)").n("pid", GetCurrentProcessId()).done();
  }
  return TRUE;
}
