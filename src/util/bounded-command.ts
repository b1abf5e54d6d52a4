/**
 * A shell command bounded by a deadline: used for the snapshot provider's release command and the
 * hosted writer's pre/post commands. It runs in its own process group so the whole tree is killed
 * at the deadline, not only the shell.
 */
import { execFileSync, spawn } from 'node:child_process';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

/** Runs a shell command in its own process group, killed whole at the deadline. */
export function runBoundedCommand(command: string, env: NodeJS.ProcessEnv, deadlineMs: number, what = 'snapshot command'): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, deadlineMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new VssError(HR.VSS_E_UNEXPECTED_PROVIDER_ERROR, { message: `${what} could not start: ${e.message}` }));
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new VssError(HR.VSS_E_HOLD_WRITES_TIMEOUT, { message: `${what} did not finish within ${deadlineMs} ms and was killed` }));
      else if (code !== 0) reject(new VssError(HR.VSS_E_UNEXPECTED_PROVIDER_ERROR, { message: `${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}` }));
      else resolve();
    });
  });
}

/** Whether `cmd` is on PATH (as the shell would find it). */
export function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
