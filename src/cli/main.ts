#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { TOOL_VERSION } from '../version.js';
import { EXIT } from './common.js';
import { registerCommands } from './commands.js';

export function buildProgram(): Command {
  const program = new Command('mbam-vss')
    .description(
      'The VSS writer for Microsoft BitLocker Administration and Monitoring (MBAM): register it, list writers, ' +
        'inspect writer metadata, back up and restore.',
    )
    .addHelpText(
      'after',
      '\nExit codes:\n' +
        '  0  done\n' +
        '  1  the operation failed and was rolled back cleanly\n' +
        '  2  bad usage or bad input; nothing was changed\n' +
        '  3  a precondition is not met (privileges, SQL Server writer, SQL Server reachable)\n' +
        '  4  failed and the rollback did not complete: run `mbam-vss status` and act on what it lists\n',
    )
    .version(TOOL_VERSION)
    .addOption(new Option('--state-dir <dir>', 'state directory (writer registry, journal)').env('MBAM_VSS_STATE_DIR'))
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'print only errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; usage errors are exit 2 for installers.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    throw e;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
}

main().then((code) => {
  process.exitCode = code;
});
