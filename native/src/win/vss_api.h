#pragma once
// The two VSS factories, resolved at run time from vssapi.dll: a system without express writers
// (before Windows 7 / Server 2008 R2) gets a clear error instead of a DLL load failure, and under
// Wine, whose express-writer factory aborts the process, nothing is called at all.
#include <windows.h>
#include <vss.h>
#include <vswriter.h>
#include <vsbackup.h>

#include <string>

namespace mbam {
namespace win {

// MinGW's headers do not declare the express-writer factory.
using CreateExpressWriterFn = HRESULT(STDAPICALLTYPE*)(IVssExpressWriter**);
using CreateBackupComponentsFn = HRESULT(STDAPICALLTYPE*)(IVssBackupComponents**);

// E_NOTIMPL with `why` filled when the factory is not usable here.
HRESULT ResolveExpressWriterFactory(CreateExpressWriterFn* fn, std::string* why);
HRESULT ResolveBackupComponentsFactory(CreateBackupComponentsFn* fn, std::string* why);

}  // namespace win
}  // namespace mbam
