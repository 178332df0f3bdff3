import { describe, expect, it } from 'vitest';
import { walkSeed } from '../../test/support/wire-http-iis.js';
import { ocsStore } from './ocs.client.js';
import { decideRegister } from './ocs.registrar.js';

describe('the registrar', () => {
  it('knows a user only once the User Replicator has brought it into the RTC database', async () => {
    const walk = walkSeed();
    try {
      await walk.until('ocs.verifyReplication');
      const system = { get: (id: string) => walk.lab.get(id) };
      const req = { uri: 'sip:ocsuser1@example.com', account: 'ocsuser1', password: 'Us3r1-P@ss', get now() { return walk.lab.clock.now(); } };
      const replicated = () => ocsStore(walk.lab.get('ocs')).users.some((u) => u.sipAddress.toLowerCase() === req.uri);
      expect(replicated()).toBe(false);
      expect(decideRegister(system, req)).toMatchObject({ status: 404, cause: 'unknownUri' });
      walk.lab.waitFor(replicated, 10 * 60_000);
      expect(replicated()).toBe(true);
      expect(decideRegister(system, req)).toMatchObject({ status: 200 });
    } finally {
      await walk.lab.close();
    }
  });
});
