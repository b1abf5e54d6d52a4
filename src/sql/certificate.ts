/**
 * MBAM's Recovery database's keys are encrypted with a certificate in master
 * (`MBAM Recovery Encryption Certificate`); without a backup of it (with its private key), a
 * restored Recovery database cannot give anyone a recovery key on another server. The password
 * protecting the private key comes from an environment variable or a file, never from argv, and
 * never appears in a log or error.
 *
 * On a fresh server master may have no database master key: CREATE CERTIFICATE … WITH PRIVATE KEY
 * then fails (15581), since without ENCRYPTION BY PASSWORD the private key is encrypted by the
 * master key (Learn: CREATE CERTIFICATE). The restore creates one first, from a password by
 * reference, and only when there is none.
 */
import { readSecret, type SecretRef } from '../util/secrets.js';
import type { SqlEndpoint } from './target.js';
import { SqlServerConnection } from './connection.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';
import { redactSecret } from './errors.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

export interface CertificateFiles {
  /** Where SQL Server writes the certificate (a path on the SQL Server machine). */
  certificateFile: string;
  privateKeyFile: string;
}

/** Runs one certificate statement in master; the secret is only ever inside the statement. */
async function certificateStatement(server: SqlEndpoint, password: SecretRef, tag: string, operation: string, statement: (secret: string) => string, signal?: AbortSignal): Promise<void> {
  const secret = readSecret(password, 'certificate private key password');
  const conn = await SqlServerConnection.open(server, signal ? { signal } : {});
  try {
    await conn.batch(tag, `USE master; ${statement(secret)}`, { operation, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw redactSecret(e, secret);
  } finally {
    await conn.close();
  }
}

export function backupCertificate(server: SqlEndpoint, files: CertificateFiles, password: SecretRef, certificate: string, signal?: AbortSignal): Promise<void> {
  return certificateStatement(
    server,
    password,
    'backup-certificate',
    `BACKUP CERTIFICATE ${certificate}`,
    (secret) =>
      `BACKUP CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} TO FILE = ${quoteStringLiteral(files.certificateFile)} ` +
      `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, ENCRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
    signal,
  );
}

/** Whether master has a database master key (##MS_DatabaseMasterKey##). */
export async function masterHasMasterKey(conn: SqlServerConnection): Promise<boolean> {
  const rows = await conn.query('master-key', "SELECT k.name AS name FROM master.sys.symmetric_keys AS k WHERE k.name = N'##MS_DatabaseMasterKey##'", {}, 'read master.sys.symmetric_keys');
  return rows.length > 0;
}

/** Creates master's database master key when it has none; says whether it did. */
export async function ensureMasterKey(server: SqlEndpoint, masterKeyPassword: SecretRef | undefined, field = 'masterKeyPassword'): Promise<boolean> {
  const conn = await SqlServerConnection.open(server);
  try {
    if (await masterHasMasterKey(conn)) return false;
    if (!masterKeyPassword) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
        message: `SQL Server ${conn.name}: master has no database master key, which re-creating the certificate with its private key needs`,
        category: 'precondition',
        hint: `Name a password for a new master key in ${field} ({"env": "VAR"} or {"file": "/path"}), or run CREATE MASTER KEY ENCRYPTION BY PASSWORD = '…' in master yourself.`,
      });
    }
    const secret = readSecret(masterKeyPassword, 'database master key password');
    try {
      await conn.batch('create-master-key', `USE master; CREATE MASTER KEY ENCRYPTION BY PASSWORD = ${quoteStringLiteral(secret)}`, 'CREATE MASTER KEY in master');
    } catch (e) {
      throw redactSecret(e, secret);
    }
    return true;
  } finally {
    await conn.close();
  }
}

export function restoreCertificate(server: SqlEndpoint, files: CertificateFiles, password: SecretRef, certificate: string, signal?: AbortSignal): Promise<void> {
  return certificateStatement(
    server,
    password,
    'restore-certificate',
    `CREATE CERTIFICATE ${certificate} FROM FILE`,
    (secret) =>
      `CREATE CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} FROM FILE = ${quoteStringLiteral(files.certificateFile)} ` +
      `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, DECRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
    signal,
  );
}
