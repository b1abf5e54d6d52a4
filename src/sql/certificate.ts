/**
 * The Recovery database's keys are encrypted with `MBAM Recovery Encryption Certificate` in
 * master; without a backup of it (with its private key), a restored Recovery database cannot give
 * anyone a recovery key on another server. The password protecting the private key comes from an
 * environment variable or a file, never from argv, and never appears in a log or error.
 */
import { RECOVERY_CERTIFICATE, readSecret, type SecretRef, type ServerTopology } from '../mbam/topology.js';
import { SqlServerConnection } from './connection.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';
import { redactSecret } from './errors.js';

export interface CertificateFiles {
  /** Where SQL Server writes the certificate (a path on the SQL Server machine). */
  certificateFile: string;
  privateKeyFile: string;
}

export async function backupCertificate(server: ServerTopology, files: CertificateFiles, password: SecretRef, certificate = RECOVERY_CERTIFICATE): Promise<void> {
  const secret = readSecret(password, 'certificate private key password');
  const conn = await SqlServerConnection.open(server);
  try {
    await conn.batch(
      'backup-certificate',
      `USE master; BACKUP CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} TO FILE = ${quoteStringLiteral(files.certificateFile)} ` +
        `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, ENCRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
      `BACKUP CERTIFICATE ${certificate}`,
    );
  } catch (e) {
    throw redactSecret(e, secret);
  } finally {
    await conn.close();
  }
}

export async function restoreCertificate(server: ServerTopology, files: CertificateFiles, password: SecretRef, certificate = RECOVERY_CERTIFICATE): Promise<void> {
  const secret = readSecret(password, 'certificate private key password');
  const conn = await SqlServerConnection.open(server);
  try {
    await conn.batch(
      'restore-certificate',
      `USE master; CREATE CERTIFICATE ${quoteIdentifier(certificate, 'certificate')} FROM FILE = ${quoteStringLiteral(files.certificateFile)} ` +
        `WITH PRIVATE KEY (FILE = ${quoteStringLiteral(files.privateKeyFile)}, DECRYPTION BY PASSWORD = ${quoteStringLiteral(secret)})`,
      `CREATE CERTIFICATE ${certificate} FROM FILE`,
    );
  } catch (e) {
    throw redactSecret(e, secret);
  } finally {
    await conn.close();
  }
}
