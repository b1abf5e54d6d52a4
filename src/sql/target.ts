/**
 * What the SQL layer is pointed at: one SQL Server instance, the user databases it coordinates and
 * an optional certificate in master those databases depend on. The SQL layer knows nothing of
 * MBAM's topology; src/mbam/topology.ts maps a topology server to this (sqlTargetOf).
 */
import type { SecretRef } from '../util/secrets.js';

/**
 * How the tool logs in. `ntlm` is Windows authentication from Linux (tedious speaks NTLM; the
 * password is a secret by reference). Kerberos is not offered: tedious has no Kerberos client.
 * `integrated` (the process's own Windows identity) is not available through tedious either.
 */
export type SqlAuth =
  | { type: 'sql'; user: string; password: SecretRef }
  | { type: 'ntlm'; domain: string; user: string; password: SecretRef }
  | { type: 'integrated' };

export interface SqlInstance {
  /** DNS name or address to connect to. */
  host: string;
  port?: number;
  /** Named instance (absent or MSSQLSERVER: the default instance). */
  instance?: string;
  /**
   * The server name the SQL Server VSS writer uses in its logical paths (a cluster's virtual
   * name, for example); defaults to the topology server's name.
   */
  writerServerName?: string;
  auth: SqlAuth;
  /** true: TLS after PRELOGIN (TDS 7.x); 'strict': TDS 8, TLS before anything, certificate always validated. */
  encrypt: boolean | 'strict';
  trustServerCertificate: boolean;
  /** PEM file of the CA (or self-signed certificate) to trust for the server's certificate. */
  caFile?: string;
  /**
   * The host name the server's certificate is issued to, when `host` is an address (or another
   * name): TLS validates the certificate against it, so connecting by IP needs no
   * trustServerCertificate.
   */
  serverCertificateHostName?: string;
  /** An availability group listener spanning subnets: try all its addresses at once. */
  multiSubnetFailover?: boolean;
}

/** Where to connect and how: enough for a connection, a suspension or a certificate statement. */
export interface SqlEndpoint {
  /** The computer name: in messages, and the SQL Server writer's server name unless sql.writerServerName says otherwise. */
  name: string;
  sql: SqlInstance;
}

export interface SqlTarget extends SqlEndpoint {
  /** The user databases taking part, each with a label (its role) for check names and messages. */
  databases: { role: string; name: string }[];
  /**
   * A certificate in master that the databases need (their keys are encrypted with it), backed up
   * with its private key; the password protects that private key in backups and opens it on restore.
   */
  certificate?: {
    name: string;
    password?: SecretRef;
    /** Where the operator names the password (for hints). */
    passwordField?: string;
    /** Password for a database master key in master, created on restore when master has none. */
    masterKeyPassword?: SecretRef;
  };
}
