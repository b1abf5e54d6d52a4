import { execFile } from 'node:child_process';

/**
 * execFile as a promise: long child processes must not block the test worker's event loop (vitest
 * reports a worker that cannot answer for a while as an error of the whole run).
 */
export function execAsync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve(stdout);
    });
  });
}
