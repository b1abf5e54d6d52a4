#!/usr/bin/env node
import type { Command, Help as HelpType, Option as OptionType } from 'commander';
import { TOOL_VERSION } from '../version.js';

export async function buildProgram(): Promise<Command> {
  // Imported here, not at the top: `mbam-vss --version` answers without them (see main).
  const [{ Command, Help, Option }, { registerCommands }] = await Promise.all([import('commander'), import('./commands.js')]);
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
    .configureHelp({
      optionDescription(this: HelpType, option: OptionType): string {
        const base = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${base} (required)` : base;
      },
    })
    .exitOverride();
  registerCommands(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Whether --json was asked for, read from argv itself: usage errors come before parsing does. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** The subcommand argv names (for the envelope of a usage error), or null. */
function commandOf(program: Command, argv: readonly string[]): string | null {
  for (const a of argv.slice(2)) {
    if (a === '--') break;
    const c = program.commands.find((x) => x.name() === a || x.aliases().includes(a));
    if (c) return c.name();
  }
  return null;
}

export async function main(argv = process.argv): Promise<number> {
  // `mbam-vss help backup | head -3`: the reader went away. Stop writing, do not crash with an
  // unhandled EPIPE; the work itself (a backup mid-freeze) must still finish and clean up.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
  // `mbam-vss --version` alone, what installers and monitoring probe, prints what commander would
  // print for it before commander and the command declarations are loaded: start-up is most of
  // its time (issue #16). Any other argv, `-V` among options included, goes through commander.
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return 0; // EXIT.OK
  }
  const [{ CommanderError }, { EXIT, prepareCommands, writeEnvelope }] = await Promise.all([import('commander'), import('./common.js')]);
  const program = await buildProgram();
  // A usage error's text still goes to stderr; with --json its envelope goes to stdout.
  const json = wantsJson(argv);
  try {
    await prepareCommands(program, argv);
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; usage errors are exit 2 for installers.
      if (e.exitCode === 0) return EXIT.OK;
      if (json) {
        writeEnvelope({
          ok: false,
          exitCode: EXIT.USAGE,
          command: commandOf(program, argv),
          // No command at all: commander prints the help and reports "(outputHelp)".
          error: { name: 'USAGE', code: e.code, category: 'input', message: e.code === 'commander.help' ? 'a command is required (mbam-vss --help lists them)' : e.message.replace(/^error: /, '') },
        });
      }
      return EXIT.USAGE;
    }
    throw e;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
}

main().then((code) => {
  process.exitCode = code;
});
