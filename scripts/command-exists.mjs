// Whether a build tool is on PATH, for the cross-build scripts' "install this" message.
import { execFileSync } from 'node:child_process';

export function commandExists(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
