import type { Command } from 'commander';
import { hostname } from 'node:os';
import { posix, win32 } from 'node:path';
import type { ServerTopology } from '../mbam/topology.js';
import { action, beforeParse, milliseconds, stateDirOf, type GlobalOptions } from './common.js';

/**
 * Why the service, which runs as LocalSystem with the SCM's environment, could not log in to SQL
 * Server with this server's settings: the SQL driver has no integrated (SSPI) authentication, and
 * an {env} secret is not in a service's environment (the SCM's is fixed at boot).
 */
export function serviceLoginProblems(server: ServerTopology): string[] {
  const problems: string[] = [];
  const auth = server.sql.auth;
  // The service's working directory is %SystemRoot%\System32: a relative path would be read there.
  const relative = (field: string, file: string) => {
    if (!win32.isAbsolute(file) && !posix.isAbsolute(file)) problems.push(`${field} is the relative path ${file}, which the service would look up in its own working directory; give the full path`);
  };
  if (auth.type === 'integrated') problems.push('sql.auth is integrated, which the SQL driver (tedious) cannot do as a service account; use SQL authentication');
  else if ('env' in auth.password) problems.push(`sql.auth.password comes from environment variable ${auth.password.env}, which the service does not have; use { "file": ... }`);
  else relative('sql.auth.password.file', auth.password.file);
  if (server.sql.caFile) relative('sql.caFile', server.sql.caFile);
  return problems;
}

/** At service start: log in once, so that a wrong password shows in the event log now, not at the next backup. */
async function checkServiceSqlLogin(server: ServerTopology): Promise<void> {
  const [{ VssError }, { HR }, { SqlServerConnection }, { HOSTED_WRITER_SERVICE, reportServiceEvent }] = await Promise.all([
    import('../vss/errors.js'),
    import('../vss/hresult.js'),
    import('../sql/connection.js'),
    import('../platform/windows-service.js'),
  ]);
  const problems = serviceLoginProblems(server);
  if (problems.length) throw new VssError(HR.E_INVALIDARG, { message: problems.join('; '), category: 'input' });
  try {
    const conn = await SqlServerConnection.open(server, { connectTimeoutMs: 15_000, requestTimeoutMs: 15_000 });
    await conn.close();
    reportServiceEvent(false, `${HOSTED_WRITER_SERVICE}: logged in to SQL Server ${server.name}`);
  } catch (e) {
    // SQL Server may start after this service at boot: the writer runs on (PrepareSnapshot answers
    // RETRYABLE meanwhile), and the operator reads why in the event log.
    reportServiceEvent(true, `${HOSTED_WRITER_SERVICE}: cannot log in to SQL Server ${server.name}: ${(e as Error).message}`);
  }
}

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
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const freezeTimeoutMs = milliseconds(opts.freezeTimeout, '--freeze-timeout');
        const commandTimeoutMs = milliseconds(opts.commandTimeout, '--command-timeout');
        const restore = {
          ...(opts.preRestoreCommand ? { preRestoreCommand: opts.preRestoreCommand } : {}),
          ...(opts.postRestoreCommand ? { postRestoreCommand: opts.postRestoreCommand } : {}),
          commandTimeoutMs,
        };
        const start = async (asService: boolean) => {
          const [{ HostedWriter }, { mbamWriterHandlers }, { loadTopology }, { buildMbamWriterMetadata, resolveServer }] = await Promise.all([
            import('../hosted/hosted-writer.js'),
            import('../mbam/hosted-handlers.js'),
            import('../mbam/topology.js'),
            import('../mbam/writer-definition.js'),
          ]);
          const stateDir = await stateDirOf(g);
          const topology = loadTopology(opts.topology);
          const server = resolveServer(topology, opts.server ?? hostname());
          if (asService) await checkServiceSqlLogin(server);
          const writer = new HostedWriter({
            metadata: buildMbamWriterMetadata(topology, server.name, hostname()),
            freezeTimeoutMs,
            ...mbamWriterHandlers({ server, stateDir, ...restore }),
          });
          await writer.subscribe();
          return { writer, server };
        };
        const svc = await import('../platform/windows-service.js');
        if (opts.service) {
          // The SCM allows a service 30 s to connect ("StartServiceCtrlDispatcherW function"): only
          // the service module is loaded before the dispatcher; the rest runs while START_PENDING
          // is reported.
          await svc.runAsService(async () => {
            const { writer } = await start(true);
            return () => writer.unsubscribe();
          });
          return;
        }
        // Removing the service must not depend on the topology it was installed with: that file
        // may be gone or no longer name this server.
        if (opts.uninstallService) {
          out.info(svc.uninstallHostedWriterService() ? `removed the ${svc.HOSTED_WRITER_SERVICE} service` : `the ${svc.HOSTED_WRITER_SERVICE} service was not installed`);
          return;
        }
        if (opts.installService) {
          const [{ loadTopology }, { resolveServer }, { VssError }, { HR }] = await Promise.all([
            import('../mbam/topology.js'),
            import('../mbam/writer-definition.js'),
            import('../vss/errors.js'),
            import('../vss/hresult.js'),
          ]);
          const server = resolveServer(loadTopology(opts.topology), opts.server ?? hostname());
          const problems = serviceLoginProblems(server);
          if (problems.length) {
            throw new VssError(HR.E_INVALIDARG, {
              message: `the ${svc.HOSTED_WRITER_SERVICE} service (LocalSystem) could not log in to SQL Server ${server.name}:\n` + problems.map((p) => `  - ${p}`).join('\n'),
              category: 'input',
              hint: 'Use "auth": { "type": "sql", ... } with the password in a file given by its full path (readable by SYSTEM and Administrators only).',
            });
          }
          // Everything the foreground writer would use goes on the service's command line, paths
          // made absolute: the service starts in %SystemRoot%\System32.
          svc.installHostedWriterService(svc.hostedWriterServiceArgs({ topologyFile: opts.topology, server: server.name, stateDir: await stateDirOf(g), freezeTimeoutMs, ...restore }));
          svc.startHostedWriterService();
          out.info(`installed and started the ${svc.HOSTED_WRITER_SERVICE} service (automatic start)`);
          return;
        }
        const { writer, server } = await start(false);
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
