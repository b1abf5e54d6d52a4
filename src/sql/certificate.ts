/**
 * MBAM's Recovery database's keys are encrypted with a certificate in master
 * (`MBAM Recovery Encryption Certificate`); without a backup of it (with its private key), a restored Recovery database cannot give
 * anyone a recovery key on another server. The password protecting the private key comes from an
 * environment variable or a file, never from argv, and never appears in a log or error.
 */
import { readSecret, type SecretRef } from '../util/secrets.js';
import type { SqlEndpoint } from './target.js';
import { SqlServerConnection } from './connection.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';
import { redactSecret } from './errors.js';

export interface CertificateFiles {
  /** Where SQL Server writes the certificate (a path on the SQL Server machine). */
  certificateFile: string;
  privateKeyFile: string;
}

/** Runs one certificate statement in master; the secret is only ever inside the statement. */
async function certificateStatement(server: SqlEndpoint, password: SecretRef, tag: string, operation: string, statement: (secret: string) => string): Promise<void> {
  const secret = readSecret(password, 'certificate private key password');
  const conn = await SqlServerConnection.open(server);
  try {
    await conn.batch(tag, `USE master; ${statement(secret)}`, operation);
  } catch (e) {
    throw redactSecret(e, secret);
  } finally {
    await conn.close();
  }
}

export function backupCertificate(server: SqlEndpoint, files: CertificateFiles, password: SecretRef, certificate: string): Promise<void> {
  return certificateStatement(server, password, 'backup-certificate', `BACKUP CERTIFICATE ${certificate}`, (secret) =>
    `BACKUP CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} TO FILE = ${quoteStringLiteral(files.certificateFile)} ` +
    `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, ENCRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
  );
}

export function restoreCertificate(server: SqlEndpoint, files: CertificateFiles, password: SecretRef, certificate: string): Promise<void> {
  return certificateStatement(server, password, 'restore-certificate', `CREATE CERTIFICATE ${certificate} FROM FILE`, (secret) =>
    `CREATE CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} FROM FILE = ${quoteStringLiteral(files.certificateFile)} ` +
    `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, DECRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
  );
}
