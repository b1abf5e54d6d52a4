#pragma once
// The VSS factories, resolved at run time from vssapi.dll: a system without express writers
// (before Windows 7 / Server 2008 R2) gets a clear error instead of a DLL load failure, and under
// Wine, whose own vssapi.dll aborts the process in these factories, nothing of Wine's builtin is
// called at all. A native vssapi.dll under Wine (the test stand-in, test/win-standin) is used.
#include <windows.h>
#include <vss.h>
#include <vswriter.h>
#include <vsbackup.h>

#include <string>

#include "win/cvsswriter_abi.h"

namespace mbam {
namespace win {

// MinGW's headers do not declare the express-writer factory.
using CreateExpressWriterFn = HRESULT(STDAPICALLTYPE*)(IVssExpressWriter**);
using CreateBackupComponentsFn = HRESULT(STDAPICALLTYPE*)(IVssBackupComponents**);

// E_NOTIMPL with `why` filled when the factory is not usable here.
HRESULT ResolveExpressWriterFactory(CreateExpressWriterFn* fn, std::string* why);
HRESULT ResolveBackupComponentsFactory(CreateBackupComponentsFn* fn, std::string* why);
HRESULT ResolveCreateWriter(CreateWriterFn* fn, std::string* why);

// True when the process runs under Wine and the vssapi.dll it loads is Wine's builtin stub.
bool WineBuiltinVssApi();

}  // namespace win
}  // namespace mbam
