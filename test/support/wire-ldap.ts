/**
 * Helpers for tests that talk LDAP to the AD adapter over loopback: a lab with the adapter listening,
 * promise wrappers over the ldapjs client, a raw-socket exchange and child processes that are always
 * awaited (and killed on timeout).
 */
import net from 'node:net';
import { execFile } from 'node:child_process';
import ldap from 'ldapjs';
import { Lab } from '../../sim/lab.js';
import { defaultTopology } from '../../sim/topology.js';
import { registry } from '../../emulators/index.js';
import { startLdapServer, frameLength, type LdapLimits, type LdapListening } from '../../emulators/ad/ad.ldap.adapter.js';
import { BerReader, intBytes, message, octets, tlv } from '../../emulators/ad/ldap.ber.js';
import { adCreateUser, adForestPrep, adSchemaPrep } from '../../emulators/ad/ad.client.js';

export const BASE = 'DC=corp,DC=example,DC=net';

/** What the seed's operator does before OCS: the topology users created in AD, SchemaPrep and ForestPrep. */
export function prepareDirectory(lab: Lab): void {
  for (const u of lab.topology.users) {
    const r = adCreateUser(lab.get('ad'), { sam: u.sam, password: u.password, givenName: u.givenName, sn: u.sn, displayName: u.displayName, mail: u.mail });
    if (!r.ok) throw new Error(r.failure.message);
  }
  const schema = adSchemaPrep(lab.get('ad'));
  if (!schema.ok) throw new Error(schema.failure.message);
  const sipDomain = lab.topology.sipDomains[0] ?? 'example.com';
  const forest = adForestPrep(lab.get('ad'), { sipDomain });
  if (!forest.ok) throw new Error(forest.failure.message);
}

export interface LdapLab {
  lab: Lab;
  server: LdapListening;
  adminPassword: string;
  stop(): Promise<void>;
}

export async function startLdapLab(seed = '1', prepare?: (lab: Lab) => void, limits?: Partial<LdapLimits>): Promise<LdapLab> {
  const lab = new Lab(defaultTopology(), registry.emulators, { seed });
  prepare?.(lab);
  const server = await startLdapServer(lab, limits ? { limits } : {});
  return {
    lab,
    server,
    adminPassword: lab.topology.administrator.password,
    async stop() {
      await server.stop();
      lab.stop();
    },
  };
}

export interface LdapError {
  code: number;
  message: string;
  matchedDN: string;
}

export interface Entry {
  dn: string;
  attributes: Record<string, string[]>;
  buffers: Record<string, Buffer[]>;
}

function asLdapError(e: unknown): LdapError {
  const x = e as { code?: unknown; lde_message?: unknown; message?: unknown; lde_dn?: unknown };
  return {
    code: typeof x.code === 'number' ? x.code : -1,
    message: typeof x.lde_message === 'string' ? x.lde_message : String(x.message ?? ''),
    matchedDN: typeof x.lde_dn === 'string' ? x.lde_dn : x.lde_dn ? String(x.lde_dn) : '',
  };
}

/** An ldapjs client whose operations resolve to values or LdapError objects (never reject). */
export class Client {
  private readonly c: ldap.Client;
  readonly errors: Error[] = [];

  constructor(url: string) {
    this.c = ldap.createClient({ url, reconnect: false, timeout: 5000, connectTimeout: 5000 });
    this.c.on('error', (e: Error) => this.errors.push(e));
  }

  bind(name: string, password: string): Promise<LdapError | undefined> {
    return new Promise((resolve) => this.c.bind(name, password, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  search(base: string, options: ldap.SearchOptions): Promise<{ entries: Entry[]; error?: LdapError }> {
    return new Promise((resolve) => {
      const entries: Entry[] = [];
      this.c.search(base, options, (err, res) => {
        if (err) return resolve({ entries, error: asLdapError(err) });
        res.on('searchEntry', (entry) => {
          const attributes: Record<string, string[]> = {};
          const buffers: Record<string, Buffer[]> = {};
          for (const a of entry.attributes) {
            attributes[a.type] = a.values as string[];
            buffers[a.type] = (a as unknown as { buffers: Buffer[] }).buffers;
          }
          entries.push({ dn: entry.pojo.objectName, attributes, buffers });
        });
        res.on('error', (e) => resolve({ entries, error: asLdapError(e) }));
        res.on('end', (r) => resolve(r && r.status !== 0 ? { entries, error: { code: r.status, message: r.errorMessage, matchedDN: r.matchedDN } } : { entries }));
      });
    });
  }

  add(dn: string, attributes: Record<string, string | string[]>): Promise<LdapError | undefined> {
    return new Promise((resolve) => this.c.add(dn, attributes, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  modify(dn: string, changes: Array<{ operation: 'add' | 'delete' | 'replace'; type: string; values: string[] }>): Promise<LdapError | undefined> {
    const list = changes.map((c) => new ldap.Change({ operation: c.operation, modification: new ldap.Attribute({ type: c.type, values: c.values }) }));
    return new Promise((resolve) => this.c.modify(dn, list, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  del(dn: string): Promise<LdapError | undefined> {
    return new Promise((resolve) => this.c.del(dn, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  modifyDN(dn: string, newDn: string): Promise<LdapError | undefined> {
    return new Promise((resolve) => this.c.modifyDN(dn, newDn, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  compare(dn: string, attribute: string, value: string): Promise<LdapError | undefined> {
    return new Promise((resolve) => this.c.compare(dn, attribute, value, (e) => resolve(e ? asLdapError(e) : undefined)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.c.unbind(() => {
        this.c.destroy();
        resolve();
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Raw LDAP messages, for requests ldapjs's client will not send (NETBIOS\user bind names, garbage).

export const bindRequest = (id: number, name: string, password: string) => message(id, tlv(0x60, tlv(0x02, intBytes(3)), octets(name), octets(password, 0x80)));
/** searchRequest with a present filter on objectClass (or an equality filter) and an attribute list. */
export const searchRequest = (id: number, base: string, scope: 0 | 1 | 2, equality?: [string, string], attributes: string[] = []) =>
  message(
    id,
    tlv(
      0x63,
      octets(base),
      tlv(0x0a, intBytes(scope)),
      tlv(0x0a, intBytes(0)),
      tlv(0x02, intBytes(0)),
      tlv(0x02, intBytes(0)),
      tlv(0x01, Buffer.from([0])),
      equality ? tlv(0xa3, octets(equality[0]), octets(equality[1])) : octets('objectClass', 0x87),
      tlv(0x30, ...attributes.map((a) => octets(a))),
    ),
  );

export interface RawResponse {
  messageId: number;
  tag: number;
  /** For LDAPResult-shaped responses. */
  resultCode?: number;
  diagnostic?: string;
  bytes: Buffer;
}

/** Reads just enough of a response to test it: message id, protocolOp tag, resultCode and diagnostic. */
export function parseResponse(bytes: Buffer): RawResponse {
  const outer = new BerReader(bytes);
  const seq = outer.sub(outer.expect(0x30));
  const messageId = seq.integer();
  const op = seq.tlv();
  const out: RawResponse = { messageId, tag: op.tag, bytes };
  if (op.tag !== 0x64) {
    const result = seq.sub(op);
    out.resultCode = result.integer(0x0a);
    result.octets(); // matchedDN
    out.diagnostic = result.string();
  }
  return out;
}

/**
 * Opens a socket, writes `chunks`, collects framed responses until `until` holds for them, the server
 * closes, or `timeoutMs` pass. Always destroys the socket.
 */
export function exchange(port: number, chunks: Buffer[], until: (r: RawResponse[]) => boolean = () => false, timeoutMs = 2000): Promise<{ responses: RawResponse[]; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const responses: RawResponse[] = [];
    let buf = Buffer.alloc(0);
    let settled = false;
    const socket = net.connect(port, '127.0.0.1');
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const f = frameLength(buf, Number.MAX_SAFE_INTEGER);
        if (f.kind !== 'message') break;
        responses.push(parseResponse(buf.subarray(0, f.size)));
        buf = buf.subarray(f.size);
      }
      if (until(responses)) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

// ---------------------------------------------------------------------------------------------------
// Child processes

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with a timeout (then SIGKILL); resolves when the process has exited. */
export function run(file: string, args: string[], input?: string, timeoutMs = 10_000): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, LDAPNOINIT: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
