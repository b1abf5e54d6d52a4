import type { Command } from 'commander';
import { hostname } from 'node:os';
import { invalidInput } from '../vss/errors.js';
import { action, beforeParse, stateDirOf, type GlobalOptions } from './common.js';

export function registerServeCommand(program: Command): void {
  const serve = program
    .command('serve')
    .description('host the MBAM writer for this server so that it receives VSS events (Windows)')
    .requiredOption('--topology <file>', 'the MBAM topology file (JSON)')
    .option('--server <name>', 'the topology server this machine is (default: named like this host)')
    .option('--pre-restore-command <cmd>', 'run before a restore (e.g. stop the MBAM IIS application pools)')
    .option('--post-restore-command <cmd>', 'run after a restore (e.g. start them again)')
    .option('--command-timeout <ms>', 'limit for each of those commands', '120000')
    .option('--freeze-timeout <ms>', 'Freeze-to-Thaw limit VSS enforces', '60000');
  // The service options name the service, which the Windows service module defines: declared when
  // an argv names `serve` (see beforeParse), so that start-up does not import it.
  beforeParse(serve, async () => {
    const { HOSTED_WRITER_SERVICE } = await import('../platform/windows-service.js');
    serve
      .option('--install-service', `register \`serve\` as the automatic Windows service ${HOSTED_WRITER_SERVICE}, then exit`)
      .option('--uninstall-service', `remove the ${HOSTED_WRITER_SERVICE} service, then exit`)
      .option('--service', 'run under the Service Control Manager (the service command line uses it)');
  });
  serve
    .addHelpText('after', '\nRuns in the foreground until SIGINT/SIGTERM (or the service stops), then unsubscribes cleanly.\nPrepareSnapshot fails RETRYABLE while a database is not ONLINE or SQL Server is unreachable, NONRETRYABLE when a\ndatabase or the Recovery certificate is missing; BackupComplete records the backup for `mbam-vss health`.')
    .action(
      action(async (out, opts: { topology: string; server?: string; preRestoreCommand?: string; postRestoreCommand?: string; commandTimeout: string; freezeTimeout: string; installService?: boolean; uninstallService?: boolean; service?: boolean }, cmd: Command) => {
        const ms = (v: string, f: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) throw invalidInput(f, 'a positive number of milliseconds', v);
          return n;
        };
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const [{ HostedWriter }, { mbamWriterHandlers }, { loadTopology }, { buildMbamWriterMetadata, resolveServer }, { HOSTED_WRITER_SERVICE, hostedWriterServiceArgs, installHostedWriterService, runAsService, uninstallHostedWriterService }] =
          await Promise.all([import('../hosted/hosted-writer.js'), import('../mbam/hosted-handlers.js'), import('../mbam/topology.js'), import('../mbam/writer-definition.js'), import('../platform/windows-service.js')]);
        const topology = loadTopology(opts.topology);
        const server = resolveServer(topology, opts.server ?? hostname());
        if (opts.uninstallService) {
          out.info(uninstallHostedWriterService() ? `removed the ${HOSTED_WRITER_SERVICE} service` : `the ${HOSTED_WRITER_SERVICE} service was not installed`);
          return;
        }
        if (opts.installService) {
          installHostedWriterService(hostedWriterServiceArgs({ topologyFile: opts.topology, server: server.name, stateDir: await stateDirOf(g) }));
          out.info(`installed the ${HOSTED_WRITER_SERVICE} service (automatic start)`);
          return;
        }
        const writer = new HostedWriter({
          metadata: buildMbamWriterMetadata(topology, server.name),
          freezeTimeoutMs: ms(opts.freezeTimeout, '--freeze-timeout'),
          ...mbamWriterHandlers({
            server,
            stateDir: await stateDirOf(g),
            ...(opts.preRestoreCommand ? { preRestoreCommand: opts.preRestoreCommand } : {}),
            ...(opts.postRestoreCommand ? { postRestoreCommand: opts.postRestoreCommand } : {}),
            commandTimeoutMs: ms(opts.commandTimeout, '--command-timeout'),
          }),
        });
        await writer.subscribe();
        if (opts.service) {
          await runAsService(() => writer.unsubscribe());
          return;
        }
        out.info(`MBAM writer for ${server.name} subscribed to VSS; press Ctrl-C to stop`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await writer.unsubscribe();
        out.info('unsubscribed');
      }),
    );
}
