import type { Command } from 'commander';
import { registerWritersCommand } from './writers.js';
import { registerMetadataCommand } from './metadata.js';
import { registerDemoCommand } from './demo.js';
import { registerInstallCommands } from './install.js';
import { registerStatusCommand } from './status.js';
import { registerHealthCommand } from './health.js';
import { registerBackupCommands } from './backup.js';
import { registerServeCommand } from './serve.js';
import { registerSetsCommands } from './sets.js';

/** Every subcommand, one file each. */
export function registerCommands(program: Command): void {
  registerWritersCommand(program);
  registerMetadataCommand(program);
  registerInstallCommands(program);
  registerStatusCommand(program);
  registerHealthCommand(program);
  registerBackupCommands(program);
  registerSetsCommands(program);
  registerServeCommand(program);
  registerDemoCommand(program);
}
