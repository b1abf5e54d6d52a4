/*
 * scm_probe.c -- test-only, independent observer of a Windows service.
 *
 * Written from Microsoft's documentation of the Service Control Manager (SCM) API only
 * (Microsoft Learn; pages named in the comments, "Learn: <page title>"). It does not share
 * any code or knowledge with the service it observes.
 *
 * Build:  x86_64-w64-mingw32-gcc -O1 -Wall -municode -o scm_probe.exe scm_probe.c -ladvapi32
 *
 * Commands (stdout: one JSON object per line, UTF-8, nothing else; exit 2 on usage errors, else 0):
 *   scm_probe config <name>
 *   scm_probe watch  <name> <outFile> <stopFile>
 *   scm_probe stop   <name>
 *   scm_probe start  <name>
 *   scm_probe delete <name>
 * See README.md next to this file for the output format.
 *
 * Learn pages cited below (https://learn.microsoft.com/en-us/windows/win32/...):
 *   "OpenSCManagerW function"          api/winsvc/nf-winsvc-openscmanagerw
 *   "OpenServiceW function"            api/winsvc/nf-winsvc-openservicew
 *   "CloseServiceHandle function"      api/winsvc/nf-winsvc-closeservicehandle
 *   "QueryServiceConfigW function"     api/winsvc/nf-winsvc-queryserviceconfigw
 *   "QUERY_SERVICE_CONFIGW structure"  api/winsvc/ns-winsvc-query_service_configw
 *   "QueryServiceStatusEx function"    api/winsvc/nf-winsvc-queryservicestatusex
 *   "SERVICE_STATUS_PROCESS structure" api/winsvc/ns-winsvc-service_status_process
 *   "SERVICE_STATUS structure"         api/winsvc/ns-winsvc-service_status
 *   "ControlService function"          api/winsvc/nf-winsvc-controlservice
 *   "StartServiceW function"           api/winsvc/nf-winsvc-startservicew
 *   "DeleteService function"           api/winsvc/nf-winsvc-deleteservice
 */
#define WIN32_LEAN_AND_MEAN
#ifndef UNICODE
#define UNICODE
#endif
#ifndef _UNICODE
#define _UNICODE
#endif
#include <windows.h>
#include <winsvc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <wchar.h>

#define POLL_MS 50

/* ------------------------------------------------------------------------------------------ */
/* A small growable byte buffer that builds one JSON line.                                    */

typedef struct {
    char *p;
    size_t len, cap;
} jbuf;

static void jb_need(jbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *np = (char *)realloc(b->p, cap);
    if (!np) ExitProcess(3); /* out of memory: nothing sensible left to report */
    b->p = np;
    b->cap = cap;
}

static void jb_raw(jbuf *b, const char *s)
{
    size_t n = strlen(s);
    jb_need(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void jb_begin(jbuf *b, const char *ev)
{
    b->len = 0;
    jb_need(b, 0);
    b->p[0] = 0;
    jb_raw(b, "{\"ev\":\"");
    jb_raw(b, ev); /* event names are plain ASCII literals */
    jb_raw(b, "\"");
}

static void jb_key(jbuf *b, const char *key)
{
    jb_raw(b, ",\"");
    jb_raw(b, key);
    jb_raw(b, "\":");
}

static void jb_u32(jbuf *b, const char *key, DWORD v)
{
    char tmp[32];
    jb_key(b, key);
    snprintf(tmp, sizeof tmp, "%lu", (unsigned long)v);
    jb_raw(b, tmp);
}

static void jb_u64(jbuf *b, const char *key, ULONGLONG v)
{
    char tmp[32];
    jb_key(b, key);
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    jb_raw(b, tmp);
}

static void jb_bool(jbuf *b, const char *key, BOOL v)
{
    jb_key(b, key);
    jb_raw(b, v ? "true" : "false");
}

static void jb_null(jbuf *b, const char *key)
{
    jb_key(b, key);
    jb_raw(b, "null");
}

static void jb_cstr(jbuf *b, const char *key, const char *ascii)
{
    jb_key(b, key);
    jb_raw(b, "\"");
    jb_raw(b, ascii); /* only used for fixed ASCII identifiers without quotes/backslashes */
    jb_raw(b, "\"");
}

/* A JSON string value from a UTF-16 string (UTF-8 encoded, JSON-escaped). */
static void jb_wstr_value(jbuf *b, const WCHAR *w)
{
    if (!w) { jb_raw(b, "null"); return; }
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *u = (char *)malloc(n > 0 ? (size_t)n : 1);
    if (!u) ExitProcess(3);
    if (n <= 0 || !WideCharToMultiByte(CP_UTF8, 0, w, -1, u, n, NULL, NULL)) u[0] = 0;
    jb_need(b, strlen(u) * 6 + 2);
    b->p[b->len++] = '"';
    for (const unsigned char *s = (const unsigned char *)u; *s; s++) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = (char)c;
        } else if (c < 0x20) {
            char esc[8];
            switch (c) {
            case '\n': strcpy(esc, "\\n"); break;
            case '\r': strcpy(esc, "\\r"); break;
            case '\t': strcpy(esc, "\\t"); break;
            case '\b': strcpy(esc, "\\b"); break;
            case '\f': strcpy(esc, "\\f"); break;
            default: snprintf(esc, sizeof esc, "\\u%04x", c); break;
            }
            size_t el = strlen(esc);
            memcpy(b->p + b->len, esc, el);
            b->len += el;
        } else {
            b->p[b->len++] = (char)c; /* UTF-8 bytes >= 0x80 pass through */
        }
    }
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
    free(u);
}

static void jb_wstr(jbuf *b, const char *key, const WCHAR *w)
{
    jb_key(b, key);
    jb_wstr_value(b, w);
}

static void jb_end(jbuf *b)
{
    jb_raw(b, "}\n");
}

/* Writes the whole line with one WriteFile call (no CRT buffering in between). */
static BOOL write_all(HANDLE h, const char *p, size_t n)
{
    while (n) {
        DWORD done = 0;
        if (!WriteFile(h, p, (DWORD)n, &done, NULL) || done == 0) return FALSE;
        p += done;
        n -= done;
    }
    return TRUE;
}

static void emit_stdout(jbuf *b)
{
    write_all(GetStdHandle(STD_OUTPUT_HANDLE), b->p, b->len);
}

/* ------------------------------------------------------------------------------------------ */
/* SCM helpers                                                                                */

/* Learn: "OpenSCManagerW function": SC_MANAGER_CONNECT is enough to call OpenService.
 * Learn: "OpenServiceW function": "To use OpenService, no privileges are required aside from
 * SC_MANAGER_CONNECT"; it fails with ERROR_SERVICE_DOES_NOT_EXIST for an unknown name. */
static SC_HANDLE open_service(const WCHAR *name, DWORD access, SC_HANDLE *scm_out,
                              const char **failed_op, DWORD *err)
{
    *scm_out = NULL;
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    if (!scm) {
        *err = GetLastError();
        *failed_op = "OpenSCManager";
        return NULL;
    }
    SC_HANDLE svc = OpenServiceW(scm, name, access);
    if (!svc) {
        *err = GetLastError();
        *failed_op = "OpenService";
        CloseServiceHandle(scm);
        return NULL;
    }
    *scm_out = scm;
    return svc;
}

/* Learn: "CloseServiceHandle function". Closing promptly matters: Learn "DeleteService function":
 * "The database entry is not removed until all open handles to the service have been closed by
 * calls to the CloseServiceHandle function, and the service is not running." */
static void close_both(SC_HANDLE svc, SC_HANDLE scm)
{
    if (svc) CloseServiceHandle(svc);
    if (scm) CloseServiceHandle(scm);
}

/* ------------------------------------------------------------------------------------------ */
/* config                                                                                     */

static int cmd_config(const WCHAR *name)
{
    jbuf b = {0};
    SC_HANDLE scm, svc;
    const char *op = NULL;
    DWORD err = 0;

    /* Learn: "QueryServiceConfigW function": the handle "must have the SERVICE_QUERY_CONFIG access right". */
    svc = open_service(name, SERVICE_QUERY_CONFIG, &scm, &op, &err);
    QUERY_SERVICE_CONFIGW *cfg = NULL;
    if (svc) {
        /* Learn: "QueryServiceConfigW function": "To determine the required size, specify NULL for
         * this parameter and 0 for the cbBufSize parameter. The function will fail and GetLastError
         * will return ERROR_INSUFFICIENT_BUFFER. The pcbBytesNeeded parameter will receive the
         * required size." (maximum 8K bytes). */
        DWORD needed = 0;
        if (!QueryServiceConfigW(svc, NULL, 0, &needed) && GetLastError() == ERROR_INSUFFICIENT_BUFFER) {
            cfg = (QUERY_SERVICE_CONFIGW *)malloc(needed ? needed : sizeof *cfg);
            if (!cfg) ExitProcess(3);
            if (!QueryServiceConfigW(svc, cfg, needed, &needed)) {
                err = GetLastError();
                op = "QueryServiceConfig";
                free(cfg);
                cfg = NULL;
            }
        } else {
            err = GetLastError();
            op = "QueryServiceConfig";
        }
    }

    jb_begin(&b, "config");
    if (!cfg) {
        jb_bool(&b, "ok", FALSE);
        jb_u32(&b, "error", err);
        jb_cstr(&b, "op", op ? op : "QueryServiceConfig");
    } else {
        jb_bool(&b, "ok", TRUE);
        /* Learn: "QUERY_SERVICE_CONFIGW structure" members. */
        jb_u32(&b, "serviceType", cfg->dwServiceType);
        jb_u32(&b, "startType", cfg->dwStartType);
        jb_u32(&b, "errorControl", cfg->dwErrorControl);
        jb_wstr(&b, "binaryPathName", cfg->lpBinaryPathName);
        jb_wstr(&b, "loadOrderGroup", cfg->lpLoadOrderGroup);
        /* Learn: "QUERY_SERVICE_CONFIGW structure", lpDependencies: "A pointer to an array of
         * null-separated names of services or load ordering groups that must start before this
         * service. The array is doubly null-terminated. If the pointer is NULL or if it points to an
         * empty string, the service has no dependencies. If a group name is specified, it must be
         * prefixed by the SC_GROUP_IDENTIFIER ... character". Names are reported verbatim, so a
         * group keeps its SC_GROUP_IDENTIFIER ('+') prefix. */
        jb_key(&b, "dependencies");
        jb_raw(&b, "[");
        if (cfg->lpDependencies) {
            int first = 1;
            for (const WCHAR *d = cfg->lpDependencies; *d; d += wcslen(d) + 1) {
                if (!first) jb_raw(&b, ",");
                jb_wstr_value(&b, d);
                first = 0;
            }
        }
        jb_raw(&b, "]");
        /* Learn: "CreateServiceW function", lpDependencies, and "Service User Accounts" / the
         * services registry tree (HKLM\System\CurrentControlSet\Services\<name>): the SCM keeps
         * the service dependencies as the REG_MULTI_SZ value DependOnService. Read here too because
         * Wine 8.0's QueryServiceConfigW returns no dependencies although it stores them. */
        jb_key(&b, "dependOnService");
        {
            WCHAR key[400];
            WCHAR deps[2048];
            DWORD size = sizeof deps - 2 * sizeof(WCHAR);
            memset(deps, 0, sizeof deps);
            _snwprintf(key, 399, L"System\\CurrentControlSet\\Services\\%ls", name);
            key[399] = 0;
            if (RegGetValueW(HKEY_LOCAL_MACHINE, key, L"DependOnService", RRF_RT_REG_MULTI_SZ, NULL, deps, &size) == ERROR_SUCCESS) {
                int first = 1;
                jb_raw(&b, "[");
                for (const WCHAR *d = deps; *d; d += wcslen(d) + 1) {
                    if (!first) jb_raw(&b, ",");
                    jb_wstr_value(&b, d);
                    first = 0;
                }
                jb_raw(&b, "]");
            } else {
                jb_raw(&b, "null");
            }
        }
        jb_wstr(&b, "serviceStartName", cfg->lpServiceStartName);
        jb_wstr(&b, "displayName", cfg->lpDisplayName);
        free(cfg);
    }
    jb_end(&b);
    emit_stdout(&b);
    close_both(svc, scm);
    free(b.p);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* watch                                                                                      */

enum sample_kind { S_NONE, S_STATUS, S_ABSENT, S_ERROR };

typedef struct {
    enum sample_kind kind;
    SERVICE_STATUS_PROCESS st; /* S_STATUS */
    const char *op;            /* S_ERROR */
    DWORD error;               /* S_ERROR */
} sample;

static void take_sample(const WCHAR *name, sample *s)
{
    SC_HANDLE scm = NULL, svc;
    const char *op = NULL;
    DWORD err = 0;

    memset(s, 0, sizeof *s);
    /* Learn: "QueryServiceStatusEx function": the handle "must have the SERVICE_QUERY_STATUS access right". */
    svc = open_service(name, SERVICE_QUERY_STATUS, &scm, &op, &err);
    if (!svc) {
        /* Learn: "OpenServiceW function": ERROR_SERVICE_DOES_NOT_EXIST = "The specified service does not exist." */
        if (err == ERROR_SERVICE_DOES_NOT_EXIST && strcmp(op, "OpenService") == 0) {
            s->kind = S_ABSENT;
        } else {
            s->kind = S_ERROR;
            s->op = op;
            s->error = err;
        }
        return;
    }
    /* Learn: "QueryServiceStatusEx function": "Use SC_STATUS_PROCESS_INFO to retrieve the service
     * status information. The lpBuffer parameter is a pointer to a SERVICE_STATUS_PROCESS
     * structure." It "returns the most recent service status information reported to the service
     * control manager." */
    DWORD needed = 0;
    if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (LPBYTE)&s->st, sizeof s->st, &needed)) {
        s->kind = S_STATUS;
    } else {
        s->kind = S_ERROR;
        s->op = "QueryServiceStatusEx";
        s->error = GetLastError();
    }
    /* Each poll closes its handles again so that the probe never keeps a deleted service
     * "marked for delete" longer than one query (Learn: "DeleteService function", remarks). */
    close_both(svc, scm);
}

static BOOL same_sample(const sample *a, const sample *b)
{
    if (a->kind != b->kind) return FALSE;
    switch (a->kind) {
    case S_STATUS:
        return a->st.dwCurrentState == b->st.dwCurrentState &&
               a->st.dwCheckPoint == b->st.dwCheckPoint &&
               a->st.dwWaitHint == b->st.dwWaitHint &&
               a->st.dwWin32ExitCode == b->st.dwWin32ExitCode &&
               a->st.dwServiceSpecificExitCode == b->st.dwServiceSpecificExitCode &&
               a->st.dwControlsAccepted == b->st.dwControlsAccepted &&
               a->st.dwProcessId == b->st.dwProcessId &&
               a->st.dwServiceType == b->st.dwServiceType &&
               a->st.dwServiceFlags == b->st.dwServiceFlags;
    case S_ERROR:
        return a->error == b->error && strcmp(a->op, b->op) == 0;
    default:
        return TRUE;
    }
}

static void format_sample(jbuf *b, const sample *s, ULONGLONG t)
{
    switch (s->kind) {
    case S_STATUS:
        jb_begin(b, "status");
        jb_u64(b, "t", t);
        /* Learn: "SERVICE_STATUS_PROCESS structure" members. dwCurrentState: 1 STOPPED,
         * 2 START_PENDING, 3 STOP_PENDING, 4 RUNNING, 5 CONTINUE_PENDING, 6 PAUSE_PENDING, 7 PAUSED. */
        jb_u32(b, "state", s->st.dwCurrentState);
        jb_u32(b, "checkpoint", s->st.dwCheckPoint);
        jb_u32(b, "waitHint", s->st.dwWaitHint);
        jb_u32(b, "win32ExitCode", s->st.dwWin32ExitCode);
        jb_u32(b, "serviceSpecificExitCode", s->st.dwServiceSpecificExitCode);
        jb_u32(b, "controlsAccepted", s->st.dwControlsAccepted);
        /* Learn: "QueryServiceStatusEx function": the process identifier is valid in RUNNING,
         * PAUSE_PENDING, PAUSED, CONTINUE_PENDING; "may not be valid" in START_PENDING /
         * STOP_PENDING; "if the service is in the SERVICE_STOPPED state, it is never valid". */
        jb_u32(b, "pid", s->st.dwProcessId);
        jb_u32(b, "serviceType", s->st.dwServiceType);
        jb_u32(b, "serviceFlags", s->st.dwServiceFlags);
        break;
    case S_ABSENT:
        jb_begin(b, "absent");
        jb_u64(b, "t", t);
        break;
    default:
        jb_begin(b, "error");
        jb_u64(b, "t", t);
        jb_cstr(b, "op", s->op);
        jb_u32(b, "error", s->error);
        break;
    }
    jb_end(b);
}

static int cmd_watch(const WCHAR *name, const WCHAR *out_path, const WCHAR *stop_path)
{
    jbuf b = {0};
    /* Kept open for the whole watch; every line goes out with one WriteFile at the end of the
     * file, so a reader that polls the file only ever sees complete lines appended. The share
     * mode lets the test read (and even delete/rename) the file while it grows. */
    HANDLE out = CreateFileW(out_path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                             NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (out == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        jb_begin(&b, "watch");
        jb_bool(&b, "ok", FALSE);
        jb_cstr(&b, "op", "CreateFile");
        jb_u32(&b, "error", err);
        jb_end(&b);
        emit_stdout(&b);
        free(b.p);
        return 0;
    }

    ULONGLONG t0 = GetTickCount64();
    ULONGLONG samples = 0;
    sample prev, cur;
    memset(&prev, 0, sizeof prev);
    prev.kind = S_NONE;

#define APPEND_LINE()                                                                  \
    do {                                                                               \
        LARGE_INTEGER zero;                                                            \
        zero.QuadPart = 0;                                                             \
        SetFilePointerEx(out, zero, NULL, FILE_END);                                   \
        write_all(out, b.p, b.len);                                                    \
    } while (0)

    jb_begin(&b, "watching");
    jb_u64(&b, "t", 0);
    jb_end(&b);
    APPEND_LINE();

    for (;;) {
        take_sample(name, &cur);
        samples++;
        if (!same_sample(&cur, &prev)) {
            format_sample(&b, &cur, GetTickCount64() - t0);
            APPEND_LINE();
            prev = cur;
        }
        if (GetFileAttributesW(stop_path) != INVALID_FILE_ATTRIBUTES) break;
        Sleep(POLL_MS);
    }

    jb_begin(&b, "watchEnd");
    jb_u64(&b, "t", GetTickCount64() - t0);
    jb_u64(&b, "samples", samples);
    jb_end(&b);
    APPEND_LINE();
#undef APPEND_LINE

    CloseHandle(out);
    free(b.p);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stop / start / delete                                                                      */

static int cmd_stop(const WCHAR *name)
{
    jbuf b = {0};
    SC_HANDLE scm, svc;
    const char *op = NULL;
    DWORD err = 0;
    BOOL ok = FALSE, have_status = FALSE;
    SERVICE_STATUS ss;
    memset(&ss, 0, sizeof ss);

    /* Learn: "ControlService function": SERVICE_CONTROL_STOP -- "The hService handle must have
     * the SERVICE_STOP access right." */
    svc = open_service(name, SERVICE_STOP, &scm, &op, &err);
    if (svc) {
        op = "ControlService";
        ok = ControlService(svc, SERVICE_CONTROL_STOP, &ss);
        err = ok ? ERROR_SUCCESS : GetLastError();
        /* Learn: "ControlService function", lpServiceStatus: "The service control manager fills in
         * the structure only when ControlService returns one of the following error codes:
         * NO_ERROR, ERROR_INVALID_SERVICE_CONTROL, ERROR_SERVICE_CANNOT_ACCEPT_CTRL, or
         * ERROR_SERVICE_NOT_ACTIVE. Otherwise, the structure is not filled in." */
        have_status = ok || err == ERROR_INVALID_SERVICE_CONTROL ||
                      err == ERROR_SERVICE_CANNOT_ACCEPT_CTRL || err == ERROR_SERVICE_NOT_ACTIVE;
    }
    /* Observed under Wine 8.0: after ERROR_INVALID_SERVICE_CONTROL the structure comes back with
     * garbage although the page above says it is filled in; only a documented state value
     * (SERVICE_STOPPED 1 .. SERVICE_PAUSED 7, Learn: "SERVICE_STATUS structure") is reported. */
    if (have_status && (ss.dwCurrentState < SERVICE_STOPPED || ss.dwCurrentState > SERVICE_PAUSED))
        have_status = FALSE;
    jb_begin(&b, "stop");
    jb_bool(&b, "ok", ok);
    jb_u32(&b, "error", ok ? 0 : err);
    if (have_status) jb_u32(&b, "state", ss.dwCurrentState);
    else jb_null(&b, "state");
    if (!ok) jb_cstr(&b, "op", op ? op : "ControlService");
    jb_end(&b);
    emit_stdout(&b);
    close_both(svc, scm);
    free(b.p);
    return 0;
}

/* One SCM call on an opened service, reported as {"ev":<ev>,"ok":..,"error":..[,"op":..]}. */
static int simple_call(const WCHAR *name, DWORD access, const char *ev, const char *call_op, BOOL (*call)(SC_HANDLE))
{
    jbuf b = {0};
    SC_HANDLE scm, svc;
    const char *op = NULL;
    DWORD err = 0;
    BOOL ok = FALSE;

    svc = open_service(name, access, &scm, &op, &err);
    if (svc) {
        op = call_op;
        ok = call(svc);
        err = ok ? ERROR_SUCCESS : GetLastError();
    }
    jb_begin(&b, ev);
    jb_bool(&b, "ok", ok);
    jb_u32(&b, "error", ok ? 0 : err);
    if (!ok) jb_cstr(&b, "op", op ? op : call_op);
    jb_end(&b);
    emit_stdout(&b);
    close_both(svc, scm);
    free(b.p);
    return 0;
}

/* Learn: "StartServiceW function": the handle "must have the SERVICE_START access right";
 * "If there are no arguments, this parameter can be NULL" (dwNumServiceArgs 0). On Windows it
 * "does not wait for the first status update from the new service"; this probe does not wait
 * either (but see README: Wine's StartService returns only after the first status report). */
static BOOL start_service(SC_HANDLE h) { return StartServiceW(h, 0, NULL); }
static int cmd_start(const WCHAR *name) { return simple_call(name, SERVICE_START, "start", "StartService", start_service); }

/* Learn: "DeleteService function": the handle "must have the DELETE access right"; it only
 * "Marks the specified service for deletion"; a second call fails with
 * ERROR_SERVICE_MARKED_FOR_DELETE. The handle is closed right away (see close_both). */
static BOOL delete_service(SC_HANDLE h) { return DeleteService(h); }
static int cmd_delete(const WCHAR *name) { return simple_call(name, DELETE, "delete", "DeleteService", delete_service); }

/* ------------------------------------------------------------------------------------------ */

/* waitexit <pid> <ms>: whether the service's process ended after it reported SERVICE_STOPPED.
 * Learn: "Service ServiceMain Function" / "SetServiceStatus function": after reporting
 * SERVICE_STOPPED a service process "should" perform cleanup and exit (the SCM may terminate it). */
static int cmd_waitexit(const WCHAR *pid_s, const WCHAR *ms_s)
{
    jbuf b = {0};
    DWORD pid = (DWORD)wcstoul(pid_s, NULL, 10), ms = (DWORD)wcstoul(ms_s, NULL, 10);
    /* Learn: "OpenProcess function": SYNCHRONIZE is the right WaitForSingleObject needs;
     * PROCESS_QUERY_LIMITED_INFORMATION the one GetExitCodeProcess needs. A process that no longer
     * exists makes OpenProcess fail (ERROR_INVALID_PARAMETER). */
    HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    jb_begin(&b, "waitexit");
    if (!h) {
        DWORD err = GetLastError();
        jb_bool(&b, "ok", err == ERROR_INVALID_PARAMETER);
        jb_bool(&b, "gone", TRUE);
        jb_u32(&b, "error", err);
    } else {
        /* Learn: "WaitForSingleObject function": WAIT_OBJECT_0 when the process object is signaled
         * (it has terminated), WAIT_TIMEOUT (258) otherwise. "GetExitCodeProcess function". */
        DWORD w = WaitForSingleObject(h, ms), code = 0;
        BOOL exited = w == WAIT_OBJECT_0 && GetExitCodeProcess(h, &code);
        jb_bool(&b, "ok", exited);
        jb_bool(&b, "gone", FALSE);
        if (exited) jb_u32(&b, "exitCode", code);
        else jb_u32(&b, "error", w == WAIT_TIMEOUT ? WAIT_TIMEOUT : GetLastError());
        CloseHandle(h);
    }
    jb_end(&b);
    emit_stdout(&b);
    free(b.p);
    return 0;
}

static int usage(void)
{
    static const char text[] =
        "usage: scm_probe config <name>\n"
        "       scm_probe watch  <name> <outFile> <stopFile>\n"
        "       scm_probe stop   <name>\n"
        "       scm_probe start  <name>\n"
        "       scm_probe delete <name>\n"
        "       scm_probe waitexit <pid> <ms>\n";
    write_all(GetStdHandle(STD_ERROR_HANDLE), text, sizeof text - 1);
    return 2;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc < 3 || !argv[2][0]) return usage();
    const WCHAR *cmd = argv[1], *name = argv[2];
    if (!wcscmp(cmd, L"config") && argc == 3) return cmd_config(name);
    if (!wcscmp(cmd, L"watch") && argc == 5 && argv[3][0] && argv[4][0]) return cmd_watch(name, argv[3], argv[4]);
    if (!wcscmp(cmd, L"stop") && argc == 3) return cmd_stop(name);
    if (!wcscmp(cmd, L"start") && argc == 3) return cmd_start(name);
    if (!wcscmp(cmd, L"delete") && argc == 3) return cmd_delete(name);
    if (!wcscmp(cmd, L"waitexit") && argc == 4) return cmd_waitexit(argv[2], argv[3]);
    return usage();
}
