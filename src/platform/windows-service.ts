/**
 * The hosted writer as a Windows service: `mbam-vss serve --service …`, registered to start
 * automatically as LocalSystem. The command line is built here, with Windows' argument quoting
 * (the rules CommandLineToArgvW and the C runtime apply), so that paths with spaces or quotes
 * reach the service exactly.
 */
import { resolve } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { loadNative, nativeError, PACKAGE_ROOT } from './native.js';

export const HOSTED_WRITER_SERVICE = 'MbamVssWriter';
export const HOSTED_WRITER_SERVICE_DISPLAY = 'MBAM VSS Writer (mbam-vss)';

interface ServiceAddon {
  createService(name: string, displayName: string, description: string, commandLine: string): void;
  deleteService(name: string): boolean;
  runAsService(name: string, onStop: () => void): Promise<void>;
  serviceStopped(): void;
}

/** Quotes one argument so that CommandLineToArgvW gives it back unchanged. */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    // Backslashes are literal unless they precede a quote: then each must be doubled.
    out += '\\'.repeat(ch === '"' ? backslashes * 2 + 1 : backslashes) + ch;
    backslashes = 0;
  }
  return out + '\\'.repeat(backslashes * 2) + '"';
}

export function windowsCommandLine(argv: string[]): string {
  return argv.map(quoteWindowsArg).join(' ');
}

export function hostedWriterServiceArgs(o: { topologyFile: string; server: string; stateDir: string }): string[] {
  return [process.execPath, resolve(PACKAGE_ROOT, 'dist', 'cli', 'main.js'), 'serve', '--service', '--topology', resolve(o.topologyFile), '--server', o.server, '--state-dir', o.stateDir];
}

function addon(): ServiceAddon {
  if (process.platform !== 'win32') {
    throw new VssError(HR.E_NOTIMPL, { message: 'Windows services exist on Windows only', category: 'precondition' });
  }
  return loadNative() as unknown as ServiceAddon;
}

export function installHostedWriterService(argv: string[]): void {
  try {
    addon().createService(HOSTED_WRITER_SERVICE, HOSTED_WRITER_SERVICE_DISPLAY, 'Hosts the Microsoft BitLocker Administration and Management Writer so that it receives VSS events.', windowsCommandLine(argv));
  } catch (e) {
    throw e instanceof VssError ? e : nativeError(e, `create the ${HOSTED_WRITER_SERVICE} service`);
  }
}

/** False when the service did not exist (which uninstall treats as success). */
export function uninstallHostedWriterService(): boolean {
  try {
    return addon().deleteService(HOSTED_WRITER_SERVICE);
  } catch (e) {
    throw e instanceof VssError ? e : nativeError(e, `delete the ${HOSTED_WRITER_SERVICE} service`);
  }
}

/** Runs under the Service Control Manager until it asks the service to stop. */
export async function runAsService(onStop: () => Promise<void>): Promise<void> {
  const a = addon();
  const dispatcher = a.runAsService(HOSTED_WRITER_SERVICE, () => {
    void onStop().finally(() => a.serviceStopped());
  });
  try {
    await dispatcher;
  } catch (e) {
    throw nativeError(e, 'connect to the Service Control Manager (run this only as the service)');
  }
}
