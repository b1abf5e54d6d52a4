/**
 * The SQL Server writer of the POSIX requester. On Windows, SQL Server's own VSS writer
 * (SqlServerWriter) holds the databases still for a snapshot; Linux has no VSS, so this in-process
 * writer does that job with T-SQL snapshot backup (SQL Server 2022+). It has SqlServerWriter's
 * class id, component names and logical paths, so the MBAM writer's component dependencies
 * resolve to it exactly as they resolve to SqlServerWriter on Windows:
 *
 *   PrepareForBackup  the databases are online, every one shows its ROWS and LOG files (a login
 *                     that cannot see them would back up nothing) and they are on this machine; when the
 *                     `master` component takes part, the Recovery certificate is backed up with its
 *                     private key (the reason the MBAM writer depends on master)
 *   Freeze            SUSPEND_FOR_SNAPSHOT_BACKUP (MODE = COPY_ONLY unless asked otherwise) on one
 *                     dedicated session, bounded by the window
 *   Thaw              BACKUP … WITH METADATA_ONLY (thaws, records the backup); the .bkm joins the set
 *   Abort             the suspension ends without a backup
 *   PreRestore        the databases go OFFLINE so their files can be replaced
 *   PostRestore       the certificate first (and master's database master key when it has none),
 *                     created from the set when master does not have it; then RESTORE … WITH
 *                     METADATA_ONLY, REPLACE from the set's .bkm (NORECOVERY on request)
 *
 * SQL Server reads and writes those files itself, as its service account, so they pass through an
 * exchange directory that account owns (default: the instance's default backup directory), under
 * names that carry the snapshot set id, and leave it at once. System databases cannot be suspended
 * for snapshot backup: the `master` component carries the certificate, not master's files.
 */
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HR } from '../vss/hresult.js';
import { VssError } from '../vss/errors.js';
import { nameBasedGuid } from '../vss/guid.js';
import { fileList, WMD_VERSION, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { SQL_WRITER_ID, SQL_WRITER_NAME, sqlWriterLogicalPath } from '../vss/known-writers.js';
import { describeServer, SqlServerConnection, type ConnectOptions } from './connection.js';
import { backupCertificate, ensureMasterKey, restoreCertificate, type CertificateFiles } from './certificate.js';
import { defaultBackupDirectory, discover, hasCertificate, type ServerDiscovery } from './discovery.js';
import { SnapshotFreeze } from './suspend.js';
import { restoreFromMetadataBackup, takeOffline } from './snapshot-restore.js';
import type { SqlTarget } from './target.js';
import type { InProcessWriter, WriterEventContext } from '../vss/writer-events.js';

/** The component that stands for master: the target's certificate (MBAM's Recovery certificate) lives there. */
export const MASTER_COMPONENT = 'master';
/** Names of the writer's files in its directory of the backup set. */
export const SET_FILES = { metadataBackup: 'databases.bkm', certificate: 'recovery-certificate.cer', privateKey: 'recovery-certificate.pvk' } as const;

export interface SqlSnapshotWriterOptions {
  server: SqlTarget;
  /**
   * A directory on this machine that SQL Server's service account can write and read, where it
   * writes the metadata backup and the certificate and reads them back on restore (default: the
   * instance's default backup directory).
   */
  exchangeDir?: string;
  connectTimeoutMs?: number;
  /**
   * false: the snapshot becomes a full backup in the DBA's differential chain. Default true
   * (COPY_ONLY): a backup the tool takes must not reset the DBA's differential base.
   */
  copyOnly?: boolean;
  /** Restore WITH NORECOVERY: the databases stay RESTORING so log backups can be applied. */
  norecovery?: boolean;
}

/** A precondition that stops the backup before anything is frozen. */
function precondition(message: string, hint?: string): VssError {
  return new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message, category: 'precondition', ...(hint ? { hint } : {}) });
}

/** The SQL Server writer's metadata for the MBAM databases `server` hosts, with their files as discovered. */
export function sqlWriterMetadata(server: SqlTarget, discovery: ServerDiscovery): WriterMetadata {
  const logicalPath = sqlWriterLogicalPath(server.sql.writerServerName ?? server.name, server.sql.instance);
  const component = (name: string, files: WriterComponent['files'], caption: string): WriterComponent => ({
    type: 'FILEGROUP',
    logicalPath,
    componentName: name,
    caption,
    restoreMetadata: false,
    notifyOnBackupComplete: true,
    selectable: true,
    selectableForRestore: true,
    // VSS_CF_APP_ROLLBACK_RECOVERY, as SqlServerWriter sets it on every database component.
    componentFlags: 2,
    files,
    dependencies: [],
  });
  const components = server.databases.map(({ name }) => {
    const db = discovery.databases.find((d) => d.name === name)!;
    return component(db.name, db.files.map((f) => fileList(dirname(f.physicalName), basename(f.physicalName))), `database ${db.name}`);
  });
  if (server.certificate) components.push(component(MASTER_COMPONENT, [], `master: the ${server.certificate.name} (system databases cannot be suspended for snapshot backup)`));
  return {
    version: WMD_VERSION,
    identity: {
      writerId: SQL_WRITER_ID,
      instanceId: nameBasedGuid(SQL_WRITER_ID, `t-sql-snapshot:${logicalPath.toLowerCase()}`),
      instanceName: `SQL Server ${discovery.identity.majorVersion} T-SQL snapshot backup:mbam-vss`,
      friendlyName: SQL_WRITER_NAME,
      usage: 'USERDATA',
      dataSource: 'TRANSACTEDDB',
      majorVersion: 1,
      minorVersion: 0,
    },
    restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'ALWAYS', rebootRequired: false },
    components,
    excludeFiles: [],
    excludeFilesFromSnapshot: [],
  };
}

/** Connects, discovers the MBAM databases and their files, and returns the writer for them. */
export async function createSqlSnapshotWriter(o: SqlSnapshotWriterOptions): Promise<SqlSnapshotWriter> {
  const connect: ConnectOptions = o.connectTimeoutMs ? { connectTimeoutMs: o.connectTimeoutMs } : {};
  const conn = await SqlServerConnection.open(o.server, connect);
  try {
    const discovery = await discover(conn, o.server);
    if (!discovery.tsqlSnapshotBackup) {
      throw precondition(
        `SQL Server ${conn.name} is version ${discovery.identity.majorVersion}; the POSIX SQL Server writer needs T-SQL snapshot backup (SQL Server 2022, version 16, or later)`,
        'On Windows, back up through VSS: SQL Server\'s own writer (SQLWriter service) coordinates the snapshot there.',
      );
    }
    const exchangeDir = o.exchangeDir ?? (await defaultBackupDirectory(conn));
    if (!exchangeDir) throw precondition(`SQL Server ${conn.name} reports no default backup directory`, 'Pass the directory SQL Server writes backups to (--sql-exchange-dir).');
    return new SqlSnapshotWriter(o.server, sqlWriterMetadata(o.server, discovery), exchangeDir, connect, { copyOnly: o.copyOnly ?? true, norecovery: o.norecovery ?? false });
  } finally {
    await conn.close();
  }
}

export class SqlSnapshotWriter implements InProcessWriter {
  readonly applicationLevel = 'BACK_END' as const;
  private freeze: SnapshotFreeze | undefined;

  constructor(
    readonly server: SqlTarget,
    readonly metadata: WriterMetadata,
    readonly exchangeDir: string,
    private readonly connect: ConnectOptions = {},
    readonly modes: { copyOnly: boolean; norecovery: boolean } = { copyOnly: true, norecovery: false },
  ) {}

  private databases(ctx: WriterEventContext): string[] {
    return ctx.components.filter((c) => c.componentName !== MASTER_COMPONENT).map((c) => c.componentName);
  }

  private certificateTakesPart(ctx: WriterEventContext): boolean {
    return ctx.components.some((c) => c.componentName === MASTER_COMPONENT);
  }

  private open(): Promise<SqlServerConnection> {
    return SqlServerConnection.open(this.server, this.connect);
  }

  private exchangePath(ctx: WriterEventContext, name: string): string {
    return join(this.exchangeDir, `mbam-vss-${ctx.snapshotSetId}-${name}`);
  }

  private checkExchangeDir(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.exchangeDir);
    } catch {
      throw precondition(
        `SQL Server ${describeServer(this.server)} writes its backup files to ${this.exchangeDir}, which is not a directory on this machine`,
        'Run the backup on the SQL Server host, or pass a directory SQL Server\'s service account can write (--sql-exchange-dir).',
      );
    }
    if (!st.isDirectory()) throw precondition(`the SQL exchange directory ${this.exchangeDir} is not a directory`);
  }

  private password() {
    const cert = this.server.certificate!;
    if (!cert.password) {
      throw precondition(
        `${describeServer(this.server)}: the databases' keys are encrypted with the certificate '${cert.name}' in master; backing up or restoring it needs the certificate's private-key password`,
        `Name it ${cert.passwordField ? `in ${cert.passwordField}` : 'in the configuration'}: {"env": "VAR"} or {"file": "/path"}.`,
      );
    }
    return cert.password;
  }

  async onPrepareBackup(ctx: WriterEventContext): Promise<void> {
    this.checkExchangeDir();
    const conn = await this.open();
    try {
      const found = await discover(conn, this.server);
      for (const name of this.databases(ctx)) {
        const db = found.databases.find((d) => d.name === name);
        if (!db?.exists) throw precondition(`database '${name}' does not exist on SQL Server ${conn.name}`);
        if (db.state !== 'ONLINE') throw precondition(`database '${name}' on SQL Server ${conn.name} is ${db.state}, not ONLINE`);
        // A database that contributes no files would be "backed up" as nothing while msdb records
        // a backup of it: the login must see its data and log files.
        if (!db.filesVisible) {
          throw precondition(
            `database '${name}' on SQL Server ${conn.name} shows the login ${db.files.length ? `only ${db.files.map((f) => f.type).join(', ')} files` : 'no files'}; a backup without its ${db.files.some((f) => f.type === 'ROWS') ? 'LOG' : 'ROWS'} file would hold none of it`,
            `Grant the login VIEW ANY DEFINITION (sys.master_files), or give it a user in '${name}' (its sys.database_files); mbam-vss install checks this as database-files.`,
          );
        }
        const component = this.metadata.components.find((c) => c.componentName === name);
        if (!component || component.files.length === 0) {
          throw precondition(
            `database '${name}' had no files when the writer was created on SQL Server ${conn.name}; a backup would hold none of it`,
            'Create the writer again once the login can see the database\'s files (VIEW ANY DEFINITION, or a user in the database).',
          );
        }
        for (const f of db.files) {
          if (!fs.existsSync(f.physicalName)) {
            throw precondition(
              `database '${name}' has its ${f.type} file at ${f.physicalName}, which is not on this machine`,
              'The POSIX requester snapshots local filesystems: run the backup on the SQL Server host.',
            );
          }
        }
      }
    } finally {
      await conn.close();
    }
    if (this.certificateTakesPart(ctx)) {
      // Before the freeze: the certificate changes rarely, and a failure here costs no frozen time.
      const files: CertificateFiles = { certificateFile: this.exchangePath(ctx, 'recovery-certificate.cer'), privateKeyFile: this.exchangePath(ctx, 'recovery-certificate.pvk') };
      try {
        await backupCertificate(this.server, files, this.password(), this.server.certificate!.name);
        fs.mkdirSync(ctx.writerDir!, { recursive: true, mode: 0o700 });
        moveOut(files.certificateFile, join(ctx.writerDir!, SET_FILES.certificate));
        moveOut(files.privateKeyFile, join(ctx.writerDir!, SET_FILES.privateKey));
      } finally {
        this.cleanExchange(ctx);
      }
    }
  }

  async onFreeze(ctx: WriterEventContext): Promise<void> {
    const databases = this.databases(ctx);
    if (databases.length === 0) return;
    this.freeze = await SnapshotFreeze.begin(this.server, databases, {
      copyOnly: this.modes.copyOnly,
      ...(ctx.deadline !== undefined ? { deadlineMs: Math.max(1, ctx.deadline - Date.now()) } : {}),
      ...(this.connect.connectTimeoutMs ? { connectTimeoutMs: this.connect.connectTimeoutMs } : {}),
    });
    ctx.log(`suspended ${databases.join(', ')} on session ${this.freeze.spid}`);
  }

  async onThaw(ctx: WriterEventContext): Promise<void> {
    const freeze = this.freeze;
    if (!freeze) return;
    this.freeze = undefined;
    const at = this.exchangePath(ctx, SET_FILES.metadataBackup);
    try {
      await freeze.backupMetadata(at);
      fs.mkdirSync(ctx.writerDir!, { recursive: true, mode: 0o700 });
      moveOut(at, join(ctx.writerDir!, SET_FILES.metadataBackup));
    } finally {
      this.cleanExchange(ctx);
    }
  }

  async onAbort(ctx: WriterEventContext): Promise<void> {
    const freeze = this.freeze;
    this.freeze = undefined;
    await freeze?.abort();
    this.cleanExchange(ctx);
  }

  async onBackupShutdown(ctx: WriterEventContext): Promise<void> {
    // Whatever happened before, no suspension outlives the backup.
    await this.onAbort(ctx);
  }

  async onPreRestore(ctx: WriterEventContext): Promise<void> {
    if (ctx.restoreTo) return; // extracted under a directory: SQL Server is not touched
    const databases = this.databases(ctx);
    if (databases.length) {
      const missing = [SET_FILES.metadataBackup].filter((f) => !fs.existsSync(join(ctx.writerDir!, f)));
      if (missing.length) throw precondition(`the backup set has no SQL metadata backup (${missing.join(', ')}) for ${databases.join(', ')}; it cannot be restored into SQL Server`);
    }
    if (this.certificateTakesPart(ctx)) this.password();
    this.checkExchangeDir();
    if (!databases.length) return;
    const conn = await this.open();
    try {
      const taken = await takeOffline(conn, databases);
      if (taken.length) ctx.log(`took ${taken.join(', ')} offline for the restore`);
    } finally {
      await conn.close();
    }
  }

  async onPostRestore(ctx: WriterEventContext): Promise<void> {
    if (ctx.restoreTo) {
      ctx.log(`files restored under ${ctx.restoreTo}; the SQL metadata backup and certificate stay in the set for a manual RESTORE`);
      return;
    }
    const databases = this.databases(ctx);
    const conn = await this.open();
    try {
      // The certificate first: a database whose keys (or, with TDE, whose pages) are encrypted with
      // it is of no use, or cannot even be brought online, until master has it.
      if (this.certificateTakesPart(ctx)) {
        const cert = this.server.certificate!;
        if (await hasCertificate(conn, cert.name)) ctx.log(`the certificate '${cert.name}' is already in master; left as it is`);
        else {
          const field = cert.passwordField ? cert.passwordField.replace(/recoveryCertificatePassword$/, 'masterKeyPassword') : 'masterKeyPassword';
          if (await ensureMasterKey(this.server, cert.masterKeyPassword, field)) ctx.log('created a database master key in master (it had none) to protect the certificate\'s private key');
          const files: CertificateFiles = {
            certificateFile: moveIn(join(ctx.writerDir!, SET_FILES.certificate), this.exchangePath(ctx, SET_FILES.certificate), this.exchangeDir),
            privateKeyFile: moveIn(join(ctx.writerDir!, SET_FILES.privateKey), this.exchangePath(ctx, SET_FILES.privateKey), this.exchangeDir),
          };
          await restoreCertificate(this.server, files, this.password(), cert.name);
          ctx.log(`re-created the certificate '${cert.name}' in master`);
        }
      }
      if (databases.length) {
        const bkm = moveIn(join(ctx.writerDir!, SET_FILES.metadataBackup), this.exchangePath(ctx, SET_FILES.metadataBackup), this.exchangeDir);
        try {
          await restoreFromMetadataBackup(conn, bkm, databases, { recovery: !this.modes.norecovery });
        } catch (e) {
          throw new VssError(e instanceof VssError ? e.hresult : HR.VSS_E_WRITERERROR_NONRETRYABLE, {
            message: (e as Error).message,
            cause: e,
            hint: `The databases (${databases.join(', ')}) are left OFFLINE with the backed-up files in place; fix the cause and restore again, or run RESTORE DATABASE … WITH METADATA_ONLY, DBNAME = …, REPLACE yourself.`,
          });
        }
        if (this.modes.norecovery) ctx.log(`${databases.join(', ')} restored WITH NORECOVERY: RESTORING; apply log backups (RESTORE LOG … WITH NORECOVERY, STOPAT for a point in time), then RESTORE DATABASE … WITH RECOVERY`);
      }
    } finally {
      this.cleanExchange(ctx);
      await conn.close();
    }
  }

  /** Removes what this snapshot set left in the exchange directory. */
  private cleanExchange(ctx: WriterEventContext): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.exchangeDir);
    } catch {
      return;
    }
    const prefix = `mbam-vss-${ctx.snapshotSetId}-`;
    for (const n of names) if (n.startsWith(prefix)) fs.rmSync(join(this.exchangeDir, n), { force: true });
  }
}

/**
 * A file SQL Server wrote, into the backup set: private to us, durable, gone from the exchange
 * directory. Another account may write there too, so a symbolic link in its place is refused
 * rather than followed (these files are small: a metadata backup, a certificate).
 */
function moveOut(from: string, to: string): void {
  const inFd = fs.openSync(from, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let data: Buffer;
  try {
    data = fs.readFileSync(inFd);
  } finally {
    fs.closeSync(inFd);
  }
  const outFd = fs.openSync(to, 'wx', 0o600);
  try {
    fs.writeFileSync(outFd, data);
    fs.fsyncSync(outFd);
  } finally {
    fs.closeSync(outFd);
  }
  fs.rmSync(from, { force: true });
}

/**
 * A file of the set, for SQL Server to read: copied into the exchange directory and, when we run
 * as root, given to the directory's owner (SQL Server's service account), readable by it alone.
 */
function moveIn(from: string, to: string, exchangeDir: string): string {
  if (!fs.existsSync(from)) throw precondition(`the backup set has no ${basename(from)}`);
  fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(to, 0o600);
  if (process.geteuid?.() === 0) {
    const owner = fs.statSync(exchangeDir);
    fs.chownSync(to, owner.uid, owner.gid);
  }
  return to;
}
