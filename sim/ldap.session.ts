/**
 * One LDAP connection to a server that may answer badly (decision 0016), for the probes and the applier:
 * ldapjs's client with every way it can end turned into a value. An error or a close at any moment
 * settles whatever is waiting; every operation has its own wall-clock limit (ldapjs clears its request
 * timer at the first message back, so a server that sends one entry and goes silent would otherwise hold
 * a search forever); nothing ldapjs says about its own connection (which names an internal client id and
 * the port) reaches a result — only "connection closed", "timeout", a socket error code, or the server's
 * LDAP result code with its diagnostic.
 */
import ldap from 'ldapjs';
import type { Unreachable } from './probes.js';
import type { Dialer } from './probes.wire.js';

/** A request control (ldapjs's generic Control, which its types do not declare). */
const Control = (ldap as unknown as { Control: new (o: { type: string; criticality: boolean; value?: Buffer }) => ldap.Control }).Control;

/** LDAP_SERVER_SD_FLAGS_OID with the DACL only (MS-ADTS 3.1.1.3.4.1.11), non-critical as AD allows. */
export const sdFlagsDacl = (): ldap.Control => new Control({ type: '1.2.840.113556.1.4.801', criticality: false, value: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x04]) });

/** LDAP_SERVER_PERMISSIVE_MODIFY_OID: a value already there (or already gone) is not an error. */
export const permissiveModify = (): ldap.Control => new Control({ type: '1.2.840.113556.1.4.1413', criticality: false });

export type LdapFailure = { ok: false; code: number; message: string } | Unreachable;

export interface LdapSession {
  client: ldap.Client;
  /** Runs one operation: its callback's value, or what ended the connection, or a timeout. */
  run<T>(op: (settle: (v: T | LdapFailure) => void) => void): Promise<T | LdapFailure>;
  /** The failure an ldapjs error stands for (a result code from the server, or the connection's end). */
  failure(e: unknown): LdapFailure;
  /** Whether the connection is TLS (StartTLS or LDAPS): what a password may travel over. */
  encrypted: boolean;
  close(): void;
}

/** A failed StartTLS: the server's refusal (52, 2), or the certificate's problem in Node's words. */
function tlsFailure(e: unknown, address: string, ldapFailure: (e: unknown) => LdapFailure): LdapFailure {
  const err = e as { code?: unknown; message?: string };
  if (typeof err.code === 'string' && /^(ERR_TLS|CERT|UNABLE|DEPTH|SELF_SIGNED|ERR_SSL|HOSTNAME)/.test(err.code)) return { unreachable: true, address, error: `TLS: ${err.code}${err.message ? ` (${err.message})` : ''}` };
  return ldapFailure(e);
}

/** ldapjs's own connection errors carry result code 80 but are no answer from the server. */
const CONNECTION_ERRORS = new Set(['ConnectionError', 'TimeoutError', 'ConnectionTimeoutError']);

function socketError(e: unknown): string {
  const err = e as { code?: unknown; name?: string };
  if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return err.code;
  if (err.name === 'TimeoutError' || err.name === 'ConnectionTimeoutError') return 'timeout';
  if (err.name === 'ConnectionError') return 'connection closed';
  return 'protocol error (the server sent what is not LDAP)';
}

/** TLS for the connection: StartTLS on 389 or LDAPS on 636, checking the server's name against these anchors. */
export interface LdapTls {
  mode: 'starttls' | 'ldaps';
  /** PEM trust anchors (the enterprise root CA); default the system's. */
  ca?: string;
  /** The name the certificate must carry: the DC's FQDN. */
  servername: string;
}

/**
 * Connects (with TLS when asked) and binds. `address` is what results name ("127.0.10.11:389", or with
 * the real one beside it); the bind's own failure (49, data 52e) is returned as a failure, not thrown.
 */
export async function openLdap(url: string, address: string, bind: { name: string; password: string }, timeoutMs: number, release?: () => void, tlsOptions?: LdapTls): Promise<LdapSession | LdapFailure> {
  const tlsConnect = tlsOptions ? { servername: tlsOptions.servername, ...(tlsOptions.ca ? { ca: [tlsOptions.ca] } : {}) } : undefined;
  const client = ldap.createClient({ url, connectTimeout: timeoutMs, timeout: timeoutMs, reconnect: false, ...(tlsOptions?.mode === 'ldaps' && tlsConnect ? { tlsOptions: tlsConnect } : {}) });
  let ended: Unreachable | undefined;
  const waiting = new Set<(u: Unreachable) => void>();
  const end = (error: string) => {
    ended ??= { unreachable: true, address, error };
    for (const w of [...waiting]) w(ended);
  };
  client.on('error', (e: unknown) => end(socketError(e)));
  client.on('close', () => end('connection closed'));
  client.on('connectTimeout', () => end('timeout'));
  client.on('timeout', () => end('timeout'));
  const failure = (e: unknown): LdapFailure => {
    const err = e as { code?: unknown; name?: string; lde_message?: string; message?: string };
    if (typeof err.code === 'number' && !CONNECTION_ERRORS.has(err.name ?? '')) return { ok: false, code: err.code, message: err.lde_message || err.name || 'LDAP error' };
    return { unreachable: true, address, error: socketError(e) };
  };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    waiting.clear();
    client.destroy();
    release?.();
  };
  const run = <T>(op: (settle: (v: T | LdapFailure) => void) => void): Promise<T | LdapFailure> =>
    new Promise<T | LdapFailure>((resolve) => {
      if (ended) return resolve(ended);
      let done = false;
      const settle = (v: T | LdapFailure) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        waiting.delete(onEnd);
        resolve(v);
      };
      const onEnd = (u: Unreachable) => settle(u);
      waiting.add(onEnd);
      const timer = setTimeout(() => settle({ unreachable: true, address, error: 'timeout' }), timeoutMs);
      try {
        op(settle);
      } catch (e) {
        // ldapjs throws synchronously on what it cannot encode (a filter it cannot parse).
        settle({ ok: false, code: 2, message: `the request could not be sent: ${e instanceof Error ? e.message : String(e)}` });
      }
    });
  const session: LdapSession = { client, run, failure, close, encrypted: tlsOptions !== undefined };
  if (tlsOptions?.mode === 'starttls' && tlsConnect) {
    const started = await run<true>((settle) => client.starttls(tlsConnect, [], (e: unknown) => settle(e ? tlsFailure(e, address, failure) : true)));
    if (started !== true) {
      close();
      return started;
    }
  }
  const bound = await run<true>((settle) => client.bind(bind.name, bind.password, (e) => settle(e ? failure(e) : true)));
  if (bound !== true) {
    close();
    return bound;
  }
  return session;
}

/**
 * A bound session on a domain controller's LDAP, dialled through the target's dialer: port 389 (StartTLS
 * or plain) or 636 (LDAPS), the certificate checked against the DC's FQDN. Results name the topology's
 * address, and the real one beside it with `showRealAddress` when they differ.
 */
export async function openDcLdap(
  dialer: Dialer,
  dc: { ip: string; fqdn: string },
  bind: { name: string; password: string },
  o: { timeoutMs: number; tls?: { mode: 'starttls' | 'ldaps'; ca?: string } | undefined; showRealAddress?: boolean },
): Promise<LdapSession | LdapFailure> {
  const port = o.tls?.mode === 'ldaps' ? 636 : 389;
  const dialed = await dialer.dial(dc.ip, port);
  if (!dialed.ok) return { unreachable: true, address: `${dc.ip}:${port}`, error: dialed.error };
  const real = o.showRealAddress && (dialed.host !== dc.ip || dialed.port !== port) ? ` (${dialed.host}:${dialed.port})` : '';
  const host = dialed.host.includes(':') ? `[${dialed.host}]` : dialed.host;
  const url = `${o.tls?.mode === 'ldaps' ? 'ldaps' : 'ldap'}://${host}:${dialed.port}`;
  return openLdap(url, `${dc.ip}:${port}${real}`, bind, o.timeoutMs, dialed.release, o.tls ? { ...o.tls, servername: dc.fqdn } : undefined);
}

/** RFC 4515: a value as it may stand in a filter. */
export function escapeFilterValue(v: string): string {
  return v.replace(/[*()\\\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
