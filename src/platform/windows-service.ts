/**
 * The hosted writer as a Windows service: `mbam-vss serve --service …`, registered to start
 * automatically as LocalSystem. The command line is built here, with Windows' argument quoting
 * (the rules CommandLineToArgvW and the C runtime apply), so that paths with spaces or quotes
 * reach the service exactly.
 */
import { resolve } from 'node:path';
import { PACKAGE_ROOT, windowsAddon } from './native.js';

export const HOSTED_WRITER_SERVICE = 'MbamVssWriter';
export const HOSTED_WRITER_SERVICE_DISPLAY = 'MBAM VSS Writer (mbam-vss)';

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

export function installHostedWriterService(argv: string[]): void {
  windowsAddon().createService(HOSTED_WRITER_SERVICE, HOSTED_WRITER_SERVICE_DISPLAY, 'Hosts the Microsoft BitLocker Administration and Management Writer so that it receives VSS events.', windowsCommandLine(argv));
}

/** False when the service did not exist (which uninstall treats as success). */
export function uninstallHostedWriterService(): boolean {
  return windowsAddon().deleteService(HOSTED_WRITER_SERVICE);
}

/**
 * Runs under the Service Control Manager until it asks the service to stop. Started any other way,
 * it fails with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: run this only as the service.
 */
export async function runAsService(onStop: () => Promise<void>): Promise<void> {
  const a = windowsAddon();
  await a.runAsService(HOSTED_WRITER_SERVICE, () => {
    void onStop().finally(() => a.serviceStopped());
  });
}
