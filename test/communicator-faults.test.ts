/**
 * Every fault a user would notice in Office Communicator shows Communicator's own text in its training
 * scenario: among the symptoms, a `communicator.*` check expects one of Communicator's messages (or its
 * "could not be reached" IM text) and passes, and after the fix a Communicator check expects success.
 */
import { describe, expect, it } from 'vitest';
import { registry } from '../emulators/index.js';
import { COMMUNICATOR_MESSAGES } from '../emulators/communicator/communicator.errors.js';
import type { ScenarioStep } from '../sim/scenario.js';
import { compile, run } from './support/shipped.js';

/** Communicator's IM failure text for an unreachable address [B] (ocs-facts §8.19). */
const IM_NOT_DELIVERED = 'could not be reached and this message was not delivered';

/** What the user reads: any of these (whole, or the part a scenario quotes). */
const USER_TEXTS = [...Object.values(COMMUNICATOR_MESSAGES), IM_NOT_DELIVERED];

/** The faults a user notices in Communicator, and why. */
const CLIENT_FACING: Record<string, string> = {
  'certificate-expired': 'the pool certificate presented on 5061 and 443 is past its validity at the client clock: certificate message at sign-in',
  'client-does-not-trust-ca': "the chain ends in a root the client does not trust: certificate message at sign-in",
  'certificate-named-for-server': 'the certificate names the server, not the pool FQDN the client dials: certificate message',
  'certificate-sip-san-missing': 'automatic sign-in dials sip.<domain>, which the certificate no longer names: certificate message',
  'https-binding-missing': 'the address book is HTTPS-only and 443 refuses: address book message',
  'pool-a-record-missing': 'the provisioned address book URL is on the pool FQDN, which no longer resolves: address book message',
  'sipinternaltls-srv-missing': 'automatic sign-in finds no SRV record and no A fallback: server unavailable',
  'srv-target-outside-sip-domain': 'strict name matching sets the SRV target aside: server unavailable',
  'user-not-enabled': 'the registrar refuses a user whose msRTCSIP-UserEnabled is not TRUE: sign-in address/credentials message',
  'enhanced-presence-missing': 'the registrar refuses with the enhanced-presence ms-diagnostics code: its own message',
  'signin-address-mismatch': 'the REGISTER for an address that is nobody\'s primary SIP address is refused: credentials message',
  'duplicate-sip-address': 'the old account holds the address: the new user cannot sign in, IM to the address is not delivered',
  'service-account-password-expired': 'the Front-End service cannot log on at its next start, so nothing listens on 5061: server unavailable',
  'service-account-password-wrong': 'the Front-End service cannot log on at its next start: server unavailable',
  'clock-skew': 'the Front-End service cannot log on (Kerberos skew) at its next start: server unavailable',
  'only-dc-down': 'DNS goes down with the domain controllers, and the Front-End service cannot log on: server unavailable',
  'forced-move-source-pool-down': "the user's home pool is down: server unavailable until the user is moved",
  'boot-hang-wmiapsrv': 'the Front-End service sits in Start Pending for minutes after a restart: server unavailable meanwhile',
  'april-2009-update-without-msmq': 'the failed update leaves every OCS service stopped: server unavailable',
};

/**
 * Faults whose catalogue symptoms mention Communicator but whose Communicator side the lab does not
 * produce, and why (not forced into their scenarios).
 */
const NOT_SURFACED: Record<string, string> = {
  'kernel-mode-auth-with-user-app-pool':
    'only Kerberos is refused; the lab\'s Communicator downloads the address book with Basic credentials (NTLM/Basic still get through), so its download succeeds',
};

const isUserText = (m: string): boolean => m.length >= 20 && USER_TEXTS.some((t) => t.toLowerCase().includes(m.toLowerCase()));
const expectedMessage = (s: ScenarioStep): string | undefined => {
  const e = s.params.expect;
  return e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : undefined;
};
const SUCCESS = ['signedIn', 'downloaded', 'delivered'];

describe('the client-facing faults', () => {
  it('are faults of the catalogue, and every fault that names Communicator among its symptoms is judged', () => {
    const ids = new Set(registry.faults.map((f) => f.id));
    for (const id of [...Object.keys(CLIENT_FACING), ...Object.keys(NOT_SURFACED)]) expect(ids, id).toContain(id);
    const naming = registry.faults.filter((f) => f.symptoms.some((s) => /communicator/i.test(s))).map((f) => f.id);
    for (const id of naming) expect(Object.keys({ ...CLIENT_FACING, ...NOT_SURFACED }), `${id} names Communicator in its symptoms`).toContain(id);
  });
});

describe("each client-facing fault's scenario shows Communicator's real message", () => {
  for (const id of Object.keys(CLIENT_FACING)) {
    it(`${id}: a Communicator check among the symptoms expects Communicator's text, and Communicator works after the fix`, async () => {
      const scenario = compile(id);
      const lastAction = Math.max(...scenario.steps.filter((s) => s.kind === 'action').map((s) => s.index));
      // The symptoms: the scenario's own steps before its last action (the fix comes after them).
      const symptoms = scenario.steps.filter((s) => s.index < lastAction && s.kind === 'check' && s.name.startsWith('communicator.'));
      const shown = symptoms.filter((s) => isUserText(expectedMessage(s) ?? ''));
      expect(shown.map((s) => `${s.name}: ${expectedMessage(s) ?? ''}`), `${id}: no communicator.* symptom expects Communicator's message`).not.toEqual([]);
      const recovered = scenario.expect.filter((s) => s.name.startsWith('communicator.') && SUCCESS.includes(String(s.params.expect)));
      expect(recovered.map((s) => s.name), `${id}: no communicator.* check expects success after the fix`).not.toEqual([]);

      const report = await run(id);
      const failures = [...report.steps].filter((r) => r.status !== 'passed').map((r) => `${r.index}. ${r.name}: ${r.reason ?? r.status}`);
      expect(report.status, failures.join('\n') || report.error?.message).toBe('passed');
      const passedAt = new Set(report.steps.filter((r) => r.status === 'passed').map((r) => r.index));
      for (const s of [...shown, ...recovered]) expect(passedAt.has(s.index), `${id}: step ${s.index} (${s.name}) passed`).toBe(true);
    }, 60_000);
  }
});
