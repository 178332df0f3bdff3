import { connect, type Socket } from 'node:net';
/**
 * The real `dig` (BIND 9 dnsutils) against the lab's DNS adapter on loopback: what an operator checking
 * the automatic sign-in records would type, over UDP and TCP.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Lab } from '../../sim/lab.js';
import type { Listening } from '../../sim/wire.js';
import { startDnsServer } from '../../emulators/dns/dns.wire.adapter.js';
import { hostService, hostStopService } from '../../emulators/host/host.client.js';
import { BIG_COUNT, POOL_VIP, wireDnsLab } from '../support/wire-dns.js';
import { dig, digAvailable } from '../support/wire-dns-dig.js';

const hasDig = digAvailable();

/** dig's answer lines ("name ttl class type data"), whitespace collapsed. */
const section = (out: string, name: string): string[] => {
  const start = out.indexOf(`;; ${name} SECTION:`);
  if (start < 0) return [];
  const lines = out.slice(start).split('\n').slice(1);
  const end = lines.findIndex((l) => l.trim() === '');
  return lines.slice(0, end < 0 ? undefined : end).map((l) => l.trim().split(/\s+/).join(' '));
};

describe('dig against the lab DNS', () => {
  it('has dig installed (apt-get install dnsutils; .ci/run does)', () => {
    expect(hasDig).toBe(true);
  });

  let lab: Lab;
  let server: Listening;

  beforeAll(async () => {
    lab = wireDnsLab();
    server = await startDnsServer(lab);
  });
  afterAll(async () => {
    await server?.stop();
    lab?.stop();
  });

  for (const transport of ['UDP', 'TCP'] as const) {
    const extra = transport === 'TCP' ? ['+tcp'] : [];

    it(`resolves sip.example.com A without recursion over ${transport}`, async () => {
      const r = await dig(server.port, ['sip.example.com', 'A', '+norecurse', ...extra]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('status: NOERROR');
      expect(r.stdout).toMatch(/;; flags: qr aa;/);
      expect(section(r.stdout, 'ANSWER')).toEqual([`sip.example.com. 3600 IN A ${POOL_VIP}`]);
      expect(r.stdout).toContain(`(${transport})`);
    });

    it(`finds the automatic sign-in SRV record over ${transport}`, async () => {
      const r = await dig(server.port, ['-t', 'SRV', '_sipinternaltls._tcp.example.com', ...extra]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('status: NOERROR');
      expect(r.stdout).toContain('WARNING: recursion requested but not available');
      expect(section(r.stdout, 'ANSWER')).toEqual(['_sipinternaltls._tcp.example.com. 3600 IN SRV 0 0 5061 sip.example.com.']);
      expect(section(r.stdout, 'ADDITIONAL')).toEqual([`sip.example.com. 3600 IN A ${POOL_VIP}`]);
    });

    it(`reports NXDOMAIN with the zone SOA over ${transport}`, async () => {
      const r = await dig(server.port, ['nothere.example.com', 'A', ...extra]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('status: NXDOMAIN');
      expect(section(r.stdout, 'AUTHORITY')).toEqual([expect.stringMatching(/^example\.com\. 3600 IN SOA dc01\.corp\.example\.net\. hostmaster\.example\.com\. \d+ 900 600 86400 3600$/)]);
    });

    it(`refuses www.microsoft.com (no recursion, nothing forwarded) over ${transport}`, async () => {
      const r = await dig(server.port, ['www.microsoft.com', 'A', ...extra]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('status: REFUSED');
      expect(section(r.stdout, 'ANSWER')).toEqual([]);
    });
  }

  it('makes dig retry over TCP when a UDP reply without EDNS would exceed 512 bytes', async () => {
    const r = await dig(server.port, ['big.example.com', 'A', '+noedns']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(';; Truncated, retrying in TCP mode.');
    expect(section(r.stdout, 'ANSWER')).toHaveLength(BIG_COUNT);
    expect(r.stdout).toContain('(TCP)');
  });

  it('answers NOTIMP to a dynamic update (+opcode=update)', async () => {
    const r = await dig(server.port, ['example.com', 'SOA', '+opcode=update']);
    expect(r.stdout).toContain('opcode: UPDATE, status: NOTIMP');
  });

  it('holds DNS over TCP against slow clients: 300 connections dribbling a byte at a time take no slot from a real dig +tcp, and a query that never completes is dropped', async () => {
    const own = wireDnsLab();
    const slow = await startDnsServer(own, { tcpMessageTimeoutMs: 1500 });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const s = connect(slow.port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
      }
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => (s.readyState === 'open' ? resolve() : s.once('connect', () => resolve())))));
      // Each announces a 100-byte query and sends one byte of it: the idle timeout alone would keep them.
      for (const s of sockets) s.write(Buffer.from([0x00, 0x64, 0x01]));
      const r = await dig(slow.port, ['sip.example.com', 'A', '+tcp'], { timeSeconds: 2 });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('status: NOERROR');
      // The dribblers that were not evicted to make room are closed once their message timeout passes.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(sockets.every((s) => s.destroyed || s.readyState === 'closed' || !s.readable)).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await slow.stop();
      own.stop();
    }
  });

  it('times out over UDP and TCP, as against a stopped Windows DNS server, when the DNS Server service is stopped on both DCs', async () => {
    const own = wireDnsLab();
    const dead = await startDnsServer(own);
    try {
      for (const h of ['dc01', 'dc02']) hostStopService(own.get(`host:${h}`), { name: 'DNS' });
      own.waitFor(() => ['dc01', 'dc02'].every((h) => hostService(own.get(`host:${h}`), 'DNS')?.state === 'Stopped'), 60_000);
      for (const extra of [[], ['+tcp']]) {
        const r = await dig(dead.port, ['sip.example.com', 'A', ...extra], { timeSeconds: 1 });
        expect(r.code, extra.join(' ')).toBe(9); // dig's exit status for "no reply from server"
        expect(r.stdout).toContain(`;; communications error to 127.0.0.1#${dead.port}: timed out`);
        expect(r.stdout).toContain(';; no servers could be reached');
      }
    } finally {
      await dead.stop();
      own.stop();
    }
  });
});
