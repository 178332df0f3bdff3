/** The AD actor next to the real host emulator: NTDS ownership and the Remote Registry precondition. */
import { describe, expect, it } from 'vitest';
import { Lab } from '../../sim/lab.js';
import { defaultTopology } from '../../sim/topology.js';
import { hostBoot, hostShutdown, hostStopService } from '../host/host.client.js';
import { hostEmulator } from '../host/index.js';
import { adAvailableDcs, adIsConverged, adSchemaPrep, adSearch } from './ad.client.js';
import { adEmulator } from './index.js';

function lab() {
  const l = new Lab(defaultTopology(), [hostEmulator, adEmulator], { seed: 'ad-host' });
  return { l, ad: l.get('ad') };
}

describe('AD with the host emulator', () => {
  it('follows NTDS through a DC shutdown and boot', () => {
    const { l, ad } = lab();
    expect(adAvailableDcs(ad)).toEqual(['dc01', 'dc02']);
    hostShutdown(l.get('host:dc01'));
    expect(adAvailableDcs(ad)).toEqual(['dc02']);
    const rootDse = adSearch(ad, { base: '', scope: 'base', attributes: ['dnsHostName'] });
    expect(rootDse.ok && rootDse.value[0]?.attributes.dnsHostName).toEqual(['dc02.corp.example.net']);
    expect(adSchemaPrep(ad)).toMatchObject({ ok: false, failure: { kind: 'ad.unavailable' } });
    hostBoot(l.get('host:dc01'));
    expect(l.waitFor(() => adAvailableDcs(ad).length === 2, 10 * 60_000).satisfied).toBe(true);
  });

  it('refuses SchemaPrep while Remote Registry is stopped on the Schema Master', () => {
    const { l, ad } = lab();
    hostStopService(l.get('host:dc01'), { name: 'RemoteRegistry' });
    l.advance(60_000);
    expect(adSchemaPrep(ad)).toMatchObject({ ok: false, failure: { kind: 'ad.unavailable', message: expect.stringContaining('RemoteRegistry is not running') } });
  });

  it('runs SchemaPrep when the Schema Master is up with Remote Registry running', () => {
    const { l, ad } = lab();
    expect(adSchemaPrep(ad).ok).toBe(true);
    expect(l.waitFor(() => adIsConverged(ad), 60_000).satisfied).toBe(true);
  });
});
