import { describe, expect, it } from 'vitest';
import { readTargetFile } from './target-file.js';
import { DEFAULT_TOPOLOGY, resolveTopology, type Topology } from './topology.js';

const topology = (() => {
  const r = resolveTopology(DEFAULT_TOPOLOGY);
  if (!r.ok) throw new Error('default topology');
  return r.topology as Topology;
})();

const GOOD = `target: corp-lab
hosts:
  dc01: { address: 10.0.0.11 }
  ocsfe01: { address: 10.0.0.31, ports: { 443: 8443 } }
  pool01: { address: 10.0.0.30 }
credentials:
  administrator: { user: 'CORP\\Administrator', password: { env: OCSLAB_TARGET_PASSWORD } }
trust: { caFile: ca.pem }
`;

describe('target files', () => {
  it('maps topology hosts and pools to real addresses and keeps the password a reference', () => {
    const r = readTargetFile('t.yaml', GOOD, topology, '/etc/ocslab');
    expect(r.ok && r.target).toEqual({
      name: 'corp-lab',
      file: 't.yaml',
      hosts: { dc01: { address: '10.0.0.11', ports: {} }, ocsfe01: { address: '10.0.0.31', ports: { 443: 8443 } }, pool01: { address: '10.0.0.30', ports: {} } },
      administrator: { user: 'CORP\\Administrator', password: { env: 'OCSLAB_TARGET_PASSWORD' } },
      labSchemaOids: false,
      plainLdapPasswords: false,
      ldapTls: 'starttls',
      caFile: '/etc/ocslab/ca.pem',
    });
  });

  it('refuses a password written into the file, unknown keys and hosts the topology lacks, at file:line:column', () => {
    const inline = readTargetFile('t.yaml', GOOD.replace('{ env: OCSLAB_TARGET_PASSWORD }', 'P@ssw0rd'), topology);
    expect(inline).toMatchObject({ ok: false, errors: [{ line: 7, message: expect.stringContaining('never the password itself') }] });
    const typo = readTargetFile('t.yaml', GOOD.replace('ocsfe01:', 'ocsfe1:'), topology);
    expect(typo).toMatchObject({ ok: false, errors: [{ file: 't.yaml', line: 4, column: 3, message: 'hosts: the topology has no host or pool "ocsfe1"; did you mean "ocsfe01"?', hint: expect.stringContaining('valid: dc01, dc02, sql01, ocsfe01, pool01') }] });
    const extra = readTargetFile('t.yaml', `${GOOD}passwords: all\n`, topology);
    expect(extra).toMatchObject({ ok: false, errors: [{ line: 9, column: 1 }] });
    const syntax = readTargetFile('t.yaml', 'target: [unclosed\n', topology);
    expect(syntax.ok).toBe(false);
    const bomb = readTargetFile('t.yaml', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n`, topology);
    expect(bomb).toMatchObject({ ok: false, errors: [{ line: 1, column: 1, message: expect.stringContaining('alias') }] });
  });

  it("reads ocslab serve's endpoints file as a target: its listeners stand for the first DC, the DNS server, the front end and the pool", () => {
    const endpoints = JSON.stringify({
      pid: 1,
      dns: { host: '127.0.0.1', port: 15000 },
      ldap: 'ldap://127.0.0.1:15001',
      https: 'https://127.0.0.1:15002',
      sipTls: { host: '127.0.0.1', port: 15005 },
      caCertFile: '/tmp/ca.pem',
      bindDn: 'CORP\\Administrator',
      bindPassword: 'lab',
      poolFqdn: 'pool01.corp.example.net',
    });
    const r = readTargetFile('endpoints.json', endpoints, topology);
    expect(r.ok && r.target.hosts).toEqual({
      dc01: { address: '127.0.0.1', ports: { 389: 15001, 53: 15000 } },
      ocsfe01: { address: '127.0.0.1', ports: { 443: 15002 } },
      pool01: { address: '127.0.0.1', ports: { 443: 15002, 5061: 15005 } },
    });
    expect(r.ok && r.target.administrator).toEqual({ user: 'CORP\\Administrator', password: { value: 'lab' } });
  });
});
