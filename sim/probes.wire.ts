/**
 * The probes on real sockets: LDAP through ldapjs's client, DNS through dns-packet over UDP (TCP when
 * the answer is truncated). Both targets use this one implementation; they differ only in the `Dialer`,
 * which turns a topology address and port (dc01's 127.0.10.11:389) into where the listener really is:
 * the lab network's routing on the emulated target, the target file's addresses on a real one.
 *
 * Probes are clients, not emulators: their timeouts are wall-clock ones (a real server that does not
 * answer must not hang the run). Every connection is closed before the probe resolves.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as dnsPacket from 'dns-packet';
import ldap from 'ldapjs';
import type { Topology } from './topology.js';
import { presented, type DnsRecord, type DnsResult, type HttpQuery, type HttpResult, type LdapBindResult, type LdapEntry, type LdapQuery, type LdapSearchResult, type Probes, type TlsResult, type Unreachable } from './probes.js';
import { httpProbe } from './probes.http.js';
import { openDcLdap, sdFlagsDacl, type LdapFailure, type LdapSession } from './ldap.session.js';

export type Dialed = { ok: true; host: string; port: number; release?: () => void } | { ok: false; error: string };

export interface Dialer {
  /** Where the listener behind a topology address and port is, or why there is none. */
  dial(address: string, port: number): Promise<Dialed>;
}

export interface WireProbeOptions {
  target: string;
  topology: Topology;
  dialer: Dialer;
  /** The directory administrator the LDAP probes bind as (`CORP\Administrator`). */
  admin: { name: string; password: string };
  /** Wall-clock limit of one exchange; default 4 s. */
  timeoutMs?: number;
  /**
   * Name the real address next to the topology's in what an unreachable probe reports (a target file's
   * servers). Not on the embedded lab, whose listeners take ephemeral ports a trace must not hold.
   */
  showRealAddress?: boolean;
  /** TLS to the domain controllers (a target file's `ldap.tls`); none on the embedded lab. */
  ldapTls?: { mode: 'starttls' | 'ldaps'; ca?: string };
  /** The certification authorities an HTTPS client trusts (PEM): the lab root, or `trust.caFile`. */
  httpsTrust?: () => string[];
  /** Randomness and time for the client side of NTLM; default the machine's (a real target). */
  bytes?: (n: number) => Uint8Array;
  now?: () => number;
  /** The embedded lab only: send the lab's Kerberos stand-in (sim/probes.http.ts). */
  kerberosStandIn?: boolean;
}

/** Attributes AD returns as bytes; the probes give them as lower-case hex. */
const BINARY = new Set(['objectsid', 'objectguid', 'ntsecuritydescriptor', 'schemaidguid', 'msrtcsip-originatorsid', 'dnsrecord', 'tokengroups']);


export class WireProbes implements Probes {
  readonly target: string;
  private readonly timeoutMs: number;

  constructor(private readonly o: WireProbeOptions) {
    this.target = o.target;
    this.timeoutMs = o.timeoutMs ?? 4000;
  }

  private hostAddress(role: 'domainController' | 'dnsServer', name?: string): string {
    const hosts = this.o.topology.hosts;
    const h = name ? hosts.find((x) => x.name.toLowerCase() === name.toLowerCase()) : hosts.find((x) => x.roles.includes(role));
    if (!h) throw new Error(`the topology has no ${name ?? role}`);
    return h.ip;
  }

  private unreachable(address: string, port: number, error: string, real?: { host: string; port: number }): Unreachable {
    const where = this.o.showRealAddress && real && (real.host !== address || real.port !== port) ? ` (${real.host}:${real.port})` : '';
    return { unreachable: true, address: `${address}:${port}${where}`, error };
  }

  /** A bound session on the DC's LDAP port, or why not. */
  private session(dc: string | undefined, bind: { name: string; password: string }): Promise<LdapSession | LdapFailure> {
    const ip = this.hostAddress('domainController', dc);
    const fqdn = this.o.topology.hosts.find((h) => h.ip === ip)?.fqdn ?? ip;
    return openDcLdap(this.o.dialer, { ip, fqdn }, bind, { timeoutMs: this.timeoutMs, tls: this.o.ldapTls, ...(this.o.showRealAddress ? { showRealAddress: true } : {}) });
  }

  async ldapBind(args: { dc?: string; name: string; password: string }): Promise<LdapBindResult> {
    const s = await this.session(args.dc, args);
    if (!('client' in s)) return s;
    s.close();
    return { ok: true };
  }

  /** The administrator's sessions, by DC, kept until `close()`: a check's several searches share one bind. */
  private readonly adminSessions = new Map<string, Promise<LdapSession | LdapFailure>>();

  /** Ends the sessions the searches kept open (the emulated target after each step, a replay after each check). */
  async close(): Promise<void> {
    const all = [...this.adminSessions.values()];
    this.adminSessions.clear();
    for (const p of all) {
      const s = await p;
      if ('client' in s) s.close();
    }
  }

  async ldapSearch(q: LdapQuery): Promise<LdapSearchResult> {
    const key = (q.dc ?? '').toLowerCase();
    let pending = this.adminSessions.get(key);
    if (!pending) {
      pending = this.session(q.dc, this.o.admin);
      this.adminSessions.set(key, pending);
    }
    const s = await pending;
    if (!('client' in s)) {
      this.adminSessions.delete(key);
      return s;
    }
    const controls = q.attributes.some((a) => a.toLowerCase() === 'ntsecuritydescriptor') ? [sdFlagsDacl()] : [];
    const result = await s.run<{ ok: true; entries: LdapEntry[] }>((settle) => {
        const entries: LdapEntry[] = [];
        s.client.search(q.base, { scope: q.scope, filter: q.filter ?? '(objectClass=*)', attributes: q.attributes, sizeLimit: 1000 }, controls, (e, res) => {
          if (e) return settle(s.failure(e));
          res.on('searchEntry', (entry) => entries.push(entryOf(entry)));
          res.on('searchReference', () => undefined);
          res.on('error', (err) => settle(s.failure(err)));
          res.on('end', (r) => settle(r && r.status !== 0 ? { ok: false, code: r.status, message: r.errorMessage || 'LDAP error' } : { ok: true, entries }));
        });
      });
    // A session that ended (the server closed it, a timeout) is not used again: the next search reconnects.
    if ('unreachable' in result) {
      this.adminSessions.delete(key);
      s.close();
    }
    return result;
  }

  async tlsHandshake(args: { address: string; port: number; servername: string }): Promise<TlsResult> {
    const dialed = await this.o.dialer.dial(args.address, args.port);
    if (!dialed.ok) return this.unreachable(args.address, args.port, dialed.error);
    return new Promise<TlsResult>((resolve) => {
      // The certificate is looked at, not trusted: whether it should be is what the check judges.
      const socket = tlsConnect({ host: dialed.host, port: dialed.port, servername: args.servername, rejectUnauthorized: false });
      let settled = false;
      const finish = (r: TlsResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        dialed.release?.();
        resolve(r);
      };
      const timer = setTimeout(() => finish(this.unreachable(args.address, args.port, 'timeout', dialed)), this.timeoutMs);
      socket.once('secureConnect', () => {
        const cert = socket.getPeerCertificate(false);
        finish(cert && cert.raw ? { ok: true, certificate: presented(cert) } : { ok: false, error: 'the server presented no certificate' });
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        // Refused or reset before TLS began: no answer; during the handshake: TLS's own error.
        const code = e.code ?? 'error';
        finish(/^E(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|TIMEDOUT|PIPE)$/.test(code) ? this.unreachable(args.address, args.port, code, dialed) : { ok: false, error: `TLS: ${code}` });
      });
      socket.once('close', () => finish(this.unreachable(args.address, args.port, 'connection closed', dialed)));
    });
  }

  now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  async httpRequest(q: HttpQuery): Promise<HttpResult> {
    const dialed = await this.o.dialer.dial(q.address, q.port);
    if (!dialed.ok) return this.unreachable(q.address, q.port, dialed.error);
    try {
      // The operator's own account: the administrator the target file names (NETBIOS\\user or a UPN).
      const [domain, user] = this.o.admin.name.includes('\\') ? (this.o.admin.name.split('\\') as [string, string]) : ['', this.o.admin.name];
      const query: HttpQuery = q.auth === 'operator' ? { ...q, auth: { user, domain, password: this.o.admin.password } } : q;
      return await httpProbe(query, {
        dialed,
        trust: q.trust === 'none' ? [] : (this.o.httpsTrust?.() ?? []),
        timeoutMs: this.timeoutMs,
        bytes: this.o.bytes ?? ((n) => randomBytes(n)),
        now: () => this.now(),
        kerberosStandIn: this.o.kerberosStandIn === true,
        unreachable: (error) => this.unreachable(q.address, q.port, error, dialed),
      });
    } finally {
      dialed.release?.();
    }
  }

  async dnsQuery(args: { name: string; type: string }): Promise<DnsResult> {
    const address = this.hostAddress('dnsServer');
    const dialed = await this.o.dialer.dial(address, 53);
    if (!dialed.ok) return this.unreachable(address, 53, dialed.error);
    try {
      const question = { id: 0x4f43, type: 'query' as const, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: args.type as dnsPacket.RecordType, name: args.name }] };
      let answer = await this.udp(dialed.host, dialed.port, dnsPacket.encode(question), question.id);
      // Truncated: ask again over TCP; if TCP gives nothing usable, what UDP said stands.
      if (answer && (answer.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) answer = (await this.tcp(dialed.host, dialed.port, dnsPacket.encode(question), question.id)) ?? answer;
      if (!answer) return this.unreachable(address, 53, 'timeout', dialed);
      return {
        ok: true,
        rcode: (answer as { rcode?: string }).rcode ?? 'NOERROR',
        authoritative: ((answer.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
        answers: (answer.answers ?? []).map(recordOf),
      };
    } finally {
      dialed.release?.();
    }
  }

  private udp(host: string, port: number, query: Buffer, id: number): Promise<dnsPacket.Packet | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      const finish = (p: dnsPacket.Packet | undefined) => {
        clearTimeout(timer);
        socket.close();
        resolve(p);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      socket.on('error', () => finish(undefined));
      // Only the answer to this question counts: another datagram (a late answer, noise) is ignored.
      socket.on('message', (m, from) => {
        if (from.port !== port) return;
        try {
          const p = dnsPacket.decode(m);
          if (p.id === id && p.type === 'response') finish(p);
        } catch {
          /* not DNS: keep waiting until the timeout */
        }
      });
      socket.send(query, port, host);
    });
  }

  private tcp(host: string, port: number, query: Buffer, id: number): Promise<dnsPacket.Packet | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      let buffer = Buffer.alloc(0);
      const finish = (p: dnsPacket.Packet | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(p);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      socket.on('error', () => finish(undefined));
      socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query])));
      socket.on('data', (d) => {
        buffer = Buffer.concat([buffer, d]);
        if (buffer.length < 2) return;
        const size = buffer.readUInt16BE(0);
        if (buffer.length < size + 2) return;
        try {
          const p = dnsPacket.decode(buffer.subarray(2, size + 2));
          finish(p.id === id ? p : undefined);
        } catch {
          finish(undefined);
        }
      });
    });
  }
}

function entryOf(entry: ldap.SearchEntry): LdapEntry {
  // A server names the attributes: one called __proto__ must stay an attribute.
  const attributes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const a of entry.attributes) {
    attributes[a.type] = BINARY.has(a.type.toLowerCase()) ? a.buffers.map((b) => b.toString('hex')) : [a.values].flat().map(String);
  }
  return { dn: String(entry.objectName ?? ''), attributes };
}


function recordOf(a: dnsPacket.Answer): DnsRecord {
  const base = { type: a.type, name: a.name, ttl: 'ttl' in a ? (a.ttl ?? 0) : 0 };
  const d = (a as { data?: unknown }).data;
  if (a.type === 'SRV') {
    const s = d as dnsPacket.SrvAnswer['data'];
    return { ...base, data: `${s.priority ?? 0} ${s.weight ?? 0} ${s.port} ${s.target}` };
  }
  if (a.type === 'SOA') {
    const s = d as dnsPacket.SoaAnswer['data'];
    return { ...base, data: `${s.serial} ${s.mname} ${s.rname}` };
  }
  return { ...base, data: typeof d === 'string' ? d : Buffer.isBuffer(d) ? d.toString('hex') : JSON.stringify(d) };
}
