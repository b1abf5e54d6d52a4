/**
 * The hosted writer as a Windows service: `mbam-vss serve --service …`, registered to start
 * automatically as LocalSystem. The command line is built here, with Windows' argument quoting
 * (the rules CommandLineToArgvW and the C runtime apply), so that paths with spaces or quotes
 * reach the service exactly.
 */
import { resolve } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { PACKAGE_ROOT, windowsAddon } from './native.js';

export const HOSTED_WRITER_SERVICE = 'MbamVssWriter';
export const HOSTED_WRITER_SERVICE_DISPLAY = 'MBAM VSS Writer (mbam-vss)';

const ERROR_SERVICE_SPECIFIC_ERROR = 1066;

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

export interface HostedWriterServiceOptions {
  topologyFile: string;
  server: string;
  stateDir: string;
  freezeTimeoutMs?: number;
  preRestoreCommand?: string;
  postRestoreCommand?: string;
  commandTimeoutMs?: number;
}

/**
 * `serve --service` with everything the foreground `serve` was given; paths absolute, because a
 * service starts in %SystemRoot%\System32.
 */
export function hostedWriterServiceArgs(o: HostedWriterServiceOptions): string[] {
  return [
    process.execPath, resolve(PACKAGE_ROOT, 'dist', 'cli', 'main.js'), 'serve', '--service',
    '--topology', resolve(o.topologyFile), '--server', o.server, '--state-dir', resolve(o.stateDir),
    ...(o.freezeTimeoutMs !== undefined ? ['--freeze-timeout', String(o.freezeTimeoutMs)] : []),
    ...(o.preRestoreCommand !== undefined ? ['--pre-restore-command', o.preRestoreCommand] : []),
    ...(o.postRestoreCommand !== undefined ? ['--post-restore-command', o.postRestoreCommand] : []),
    ...(o.commandTimeoutMs !== undefined ? ['--command-timeout', String(o.commandTimeoutMs)] : []),
  ];
}

/** Creates the service; an existing one (a reinstall) is stopped, waited for, and deleted first. */
export function installHostedWriterService(argv: string[]): void {
  const a = windowsAddon();
  a.deleteService(HOSTED_WRITER_SERVICE);
  a.createService(HOSTED_WRITER_SERVICE, HOSTED_WRITER_SERVICE_DISPLAY, 'Hosts the Microsoft BitLocker Administration and Management Writer so that it receives VSS events.', windowsCommandLine(argv));
}

/** Whether the service is installed (in whatever state). */
export function hostedWriterServiceExists(): boolean {
  return windowsAddon().serviceState(HOSTED_WRITER_SERVICE).exists;
}

/** False when the service did not exist (which uninstall treats as success). */
export function uninstallHostedWriterService(): boolean {
  return windowsAddon().deleteService(HOSTED_WRITER_SERVICE);
}

/**
 * Starts the installed service and waits until it runs. A service that stopped again reports why
 * (its HRESULT as the service-specific exit code); that becomes the error here.
 */
export function startHostedWriterService(timeoutMs = 60_000): void {
  const r = windowsAddon().startService(HOSTED_WRITER_SERVICE, timeoutMs);
  if (r.state === 'running') return;
  const hr = r.win32ExitCode === ERROR_SERVICE_SPECIFIC_ERROR ? r.serviceSpecificExitCode >>> 0 : r.win32ExitCode ? (0x80070000 | (r.win32ExitCode & 0xffff)) >>> 0 : HR.E_FAIL;
  throw new VssError(hr, {
    message: r.state === 'pending' ? `the ${HOSTED_WRITER_SERVICE} service did not reach RUNNING within ${timeoutMs} ms` : `the ${HOSTED_WRITER_SERVICE} service stopped while starting`,
    hint: `The Application event log (source ${HOSTED_WRITER_SERVICE}) says why; \`sc query ${HOSTED_WRITER_SERVICE}\` shows the exit code.`,
  });
}

/**
 * Runs under the Service Control Manager. The dispatcher connects FIRST (the SCM allows a service
 * 30 s for that) and reports START_PENDING while `start` runs (topology, SQL check, subscribe);
 * then RUNNING, or, when `start` fails, STOPPED with its HRESULT and an event-log entry saying
 * why. A STOP runs the function `start` returned, with the checkpoint advancing meanwhile.
 * Started any other way, it fails with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: run this only as
 * the service.
 */
export async function runAsService(start: () => Promise<() => Promise<void>>): Promise<void> {
  const a = windowsAddon();
  let stop: (() => Promise<void>) | undefined;
  let stopRequested = false;
  let failure: unknown;
  const doStop = () => {
    void (stop ? stop() : Promise.resolve())
      .catch((e) => a.reportServiceEvent(HOSTED_WRITER_SERVICE, true, `stopping: ${(e as Error).message}`))
      .finally(() => a.serviceStopped(0));
  };
  await a.runAsService(
    HOSTED_WRITER_SERVICE,
    () => {
      start().then(
        (s) => {
          stop = s;
          if (stopRequested) doStop();
          else a.serviceRunning();
        },
        (e) => {
          failure = e;
          const err = e instanceof VssError ? e : undefined;
          a.reportServiceEvent(HOSTED_WRITER_SERVICE, true, `${HOSTED_WRITER_SERVICE} did not start: ${(e as Error).message}${err?.hint ? `\n${err.hint}` : ''}`);
          a.serviceStopped((err?.hresult ?? HR.E_FAIL) >>> 0);
        },
      );
    },
    () => {
      stopRequested = true;
      // While starting, the stop runs once the start has finished.
      if (stop) doStop();
    },
  );
  if (failure) throw failure;
}

/** An entry in the Application event log under the service's name (Windows). */
export function reportServiceEvent(isError: boolean, message: string): void {
  windowsAddon().reportServiceEvent(HOSTED_WRITER_SERVICE, isError, message);
}
