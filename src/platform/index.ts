import type { Platform } from './platform.js';
import { PosixPlatform } from './posix.js';
import { resolveStateDir } from './state.js';
import { WindowsPlatform } from './windows.js';

export type { Platform, PrivilegeCheck, SqlWriterCheck } from './platform.js';

/** The backend for this OS, chosen once. */
export function openPlatform(options: { stateDir?: string } = {}): Platform {
  const stateDir = resolveStateDir(options.stateDir);
  return process.platform === 'win32' ? new WindowsPlatform(stateDir) : new PosixPlatform(stateDir);
}
