import { describe, expect, it } from 'vitest';
import { EndpointsNetwork, type AddressLookup, type ServedEndpoints } from './endpoints.network.js';

const served: ServedEndpoints = {
  dns: { host: '127.0.0.1', port: 15000 },
  https: 'https://127.0.0.1:15002',
  sipTls: { host: '127.0.0.1', port: 15005 },
  sipTcp: { host: '127.0.0.1', port: 15006 },
  poolFqdn: 'pool01.corp.example.net',
};

/** The lab DNS as the client sees it: the pool FQDN on the VIP, the front end on its own address. */
const labDns: AddressLookup = (name, type) => {
  const zone: Record<string, string> = { 'pool01.corp.example.net': '127.0.10.30', 'ocsfe01.corp.example.net': '127.0.10.31' };
  const address = type === 'A' ? zone[name] : undefined;
  return address ? { rcode: 'NOERROR', records: [{ type: 'A', address }] } : { rcode: 'NXDOMAIN', records: [] };
};
const from = { address: '127.1.0.1', port: 50_000 };

describe('the network of a served pool (ocslab serve endpoints)', () => {
  it('learns the pool VIP from the lab DNS and routes the real ports to the served listeners', async () => {
    const network = await EndpointsNetwork.fromDns(served, labDns, ['ocsfe01.corp.example.net', 'sipexternal.example.com']);
    expect(network.addresses()).toEqual(['127.0.10.30', '127.0.10.31']);
    expect(await network.dial('127.0.10.30', 5061, from)).toEqual({ ok: true, route: { host: '127.0.0.1', port: 15005, server: 'pool01' } });
    expect(await network.dial('127.0.10.30', 5060, from)).toEqual({ ok: true, route: { host: '127.0.0.1', port: 15006, server: 'pool01' } });
    expect(await network.dial('127.0.10.31', 443, from)).toEqual({ ok: true, route: { host: '127.0.0.1', port: 15002, server: 'ocsfe01' } });
    expect(await network.dial('127.0.10.30', 53, from)).toEqual({ ok: true, route: { host: '127.0.0.1', port: 15000, server: 'pool01' } });
    expect(await network.dns()).toEqual(served.dns);
  });

  it('refuses ports nothing serves, and SIP while the front end does not listen; other addresses time out', async () => {
    const network = new EndpointsNetwork({ ...served, sipTls: null, sipTcp: null }, [{ address: '127.0.10.30', server: 'pool01' }]);
    const refused = await network.dial('127.0.10.30', 5061, from);
    expect(refused).toMatchObject({ ok: false, error: 'refused' });
    expect(!refused.ok && refused.detail).toContain('SIP over TLS is not listening');
    expect(await network.dial('127.0.10.30', 389, from)).toMatchObject({ ok: false, error: 'refused', detail: expect.stringContaining('nothing listens') });
    expect(await network.dial('127.0.10.99', 5061, from)).toMatchObject({ ok: false, error: 'timeout' });
  });
});
