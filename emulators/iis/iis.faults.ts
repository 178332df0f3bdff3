/** Faults of the iis emulator (see docs/emulator-guide.md, "Faults"). */
import type { AnyActorRef } from 'xstate';
import { firstFrontEnd, type FaultDefinition } from '../../sim/faults.js';
import { iisId } from './iis.events.js';
import { iisBindings, iisInstalled, iisRemoveBinding, iisSetWindowsAuthentication, iisWebComponents } from './iis.client.js';
import { DEFAULT_SITE } from './iis.store.js';

const webComponentsIn = (ref: AnyActorRef | undefined) => (ref && iisInstalled(ref) ? iisWebComponents(ref) : undefined);
const httpsBinding = (ref: AnyActorRef | undefined) => (ref && iisInstalled(ref) ? iisBindings(ref).find((b) => b.protocol === 'https' && b.bindingInformation.split(':')[1] === '443') : undefined);

export const iisFaults: FaultDefinition[] = [
  {
    id: 'kernel-mode-auth-with-user-app-pool',
    title: 'Kernel-mode authentication is on while the Web Components run as RTCComponentService',
    category: 'web',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'A front end; applied at once when the Web Components are installed (Add Server to Pool), otherwise during the next IIS Manager session (the next Configure Web Components Server Certificate binding).',
    symptoms: [
      'Kerberos clients get HTTP 401.1 "Unauthorized: Access is denied due to invalid credentials" from https://<pool>/GroupExpansion/Int/service.asmx and /Abs/Int/Handler/ (the ticket cannot be decrypted: KRB_AP_ERR_MODIFIED).',
      'NTLM clients still authenticate, so the failure is intermittent from the users\' point of view (Communicator: cannot synchronize with the corporate address book / distribution list expansion fails).',
    ],
    fix: 'Turn kernel-mode authentication off for Default Web Site (IIS Manager → Authentication → Windows Authentication → Advanced Settings, or useKernelMode="false"), or keep it and set useAppPoolCredentials="true" on <windowsAuthentication> in applicationHost.config.',
    certainty: 'verified',
    note: 'ocs-facts §4, §8.10 [V]; seed Step 1. Injected as useKernelMode="true" on Default Web Site (R2 setup had turned it off). Before the Web Components exist, setup would turn it off again, so the change waits for the operator\'s next IIS Manager visit (the next iis.bindCertificate on that server, unchanged itself) and is made just before it.',
    inject: ({ lab, target, rewriteNext }) => {
      const id = 'kernel-mode-auth-with-user-app-pool';
      const turnOn = (): boolean => {
        const ref = lab.get(iisId(target));
        if (!webComponentsIn(ref)) return false;
        return iisSetWindowsAuthentication(ref, { location: DEFAULT_SITE, useKernelMode: true, useAppPoolCredentials: false }).ok;
      };
      if (turnOn()) return { applied: true, note: `${target}: useKernelMode="true" on ${DEFAULT_SITE}` };
      rewriteNext('iis.bindCertificate', (p) => {
        if (String(p.server ?? '').toLowerCase() !== target.toLowerCase()) return undefined;
        return lab.journal.withCause(`fault:${id}`, turnOn) ? p : undefined;
      });
      return { applied: true, note: `${target}: Web Components not installed yet; kernel-mode authentication will be turned back on before the next IIS binding on ${target}` };
    },
  },
  {
    id: 'https-binding-missing',
    title: 'Default Web Site has no HTTPS binding on port 443',
    category: 'web',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'A front end: after the binding (seed Step 3) it is removed; before it, the next binding is made on the wrong port.',
    symptoms: [
      'GET https://<pool>/Abs/Int/Handler/ → curl: (7) Failed to connect to <pool> port 443: Connection refused.',
      'Communicator: "Cannot synchronize with the corporate address book" (the Address Book Server files are SSL-only).',
      'IIS Manager → Default Web Site → Bindings: no https on 443.',
    ],
    fix: 'IIS Manager → Default Web Site → Bindings → Add: https, IP "All Unassigned", port 443, the pool certificate.',
    certainty: 'practitioner',
    note: 'ocs-facts §4, §8.9 [B]; seed Step 3. A binding already there is removed (someone removed it, or a rebuilt applicationHost.config). Otherwise the step cannot be skipped by a rewrite, so the operator\'s next binding on that server is typed on port 4443 instead of 443: the certificate is bound, but nothing listens on 443.',
    inject: ({ lab, target, rewriteNext }) => {
      const ref = lab.get(iisId(target));
      if (httpsBinding(ref)) {
        const r = iisRemoveBinding(ref, { site: DEFAULT_SITE, protocol: 'https', port: 443 });
        return r.ok ? { applied: true, note: `${target}: https binding on 443 removed` } : { applied: false, note: r.failure.message };
      }
      rewriteNext('iis.bindCertificate', (p) => {
        if (String(p.server ?? '').toLowerCase() !== target.toLowerCase() || (p.port !== undefined && p.port !== 443)) return undefined;
        return { ...p, port: 4443 };
      });
      return { applied: true, note: `${target}: no https binding yet; the next binding on ${target} will be made on port 4443` };
    },
  },
];
