/** Faults of the ad emulator (see docs/emulator-guide.md, "Faults"). */
import { hostWithRole, type FaultDefinition } from '../../sim/faults.js';
import type { Topology } from '../../sim/topology.js';
import { hostId } from '../host/host.events.js';
import { hostPoweredOn, hostService, hostSetStartupType, hostShutdown, hostStopService } from '../host/host.client.js';
import { adFindUser, adModify, adPrepState, adSetInboundReplicationDelay } from './ad.client.js';

const dcs = (t: Topology) => t.hosts.filter((h) => h.roles.includes('domainController')).map((h) => h.name);
const firstDc = hostWithRole('domainController');
/** A DC other than the first (the first holds the PDC emulator and Schema Master). */
const secondDc = (t: Topology) => dcs(t)[1];
const INTER_SITE_INTERVAL_MS = 180 * 60_000;

export const adFaults: FaultDefinition[] = [
  {
    id: 'service-account-password-expired',
    title: 'The RTCService account password has expired',
    category: 'accounts',
    target: 'lab',
    defaultTarget: () => undefined,
    where: 'After Add Server to Pool (the RTCService account exists); the Front-End service fails at its next start.',
    symptoms: [
      'System/Service Control Manager/7038: The RtcSrv service was unable to log on as CORP\\RTCService with the currently configured password due to the following error: Logon failure: the specified account password has expired.',
      'System/Service Control Manager/7000: The Office Communications Server Front-End service failed to start due to the following error: The service did not start due to a logon failure.',
      'An LDAP bind as RTCService fails: AcceptSecurityContext error, data 773 (532 when expired by age).',
    ],
    fix: 'Reset the RTCService password in Active Directory Users and Computers, enter the same password on the Log On tab of every service running as RTCService, then start the services. Consider "Password never expires" for service accounts if policy allows.',
    certainty: 'practitioner',
    note: 'ocs-facts §2, §8.4 [B]. The expiry is applied as pwdLastSet = 0 (what "User must change password at next logon" writes), so a bind reports data 773; expiry by age (pwdLastSet older than the 42-day maxPwdAge, data 532) is also modelled and gives the service the same 1330 text. Services already running keep running until restarted.',
    inject: ({ lab }) => {
      const ad = lab.get('ad');
      const account = ad ? adFindUser(ad, 'RTCService') : undefined;
      if (!account) return { applied: false, note: 'no RTCService account yet (Add Server to Pool has not run)' };
      const r = adModify(ad, { dn: account.dn, changes: [{ operation: 'replace', attribute: 'pwdLastSet', values: ['0'] }] });
      return r.ok ? { applied: true, note: `${account.dn}: password expired (pwdLastSet 0)` } : { applied: false, note: r.failure.message };
    },
  },
  {
    id: 'only-dc-down',
    title: 'The only domain controller is down',
    category: 'directory',
    target: 'host',
    defaultTarget: firstDc,
    where: 'At any moment. Every DC is shut down (with one DC in the topology, the targeted one).',
    symptoms: [
      'LCSCmd, the deployment wizards and ADSI Edit: "The server is not operational."',
      'System/Service Control Manager/7038: The RtcSrv service was unable to log on as CORP\\RTCService … due to the following error: There are currently no logon servers available to service the logon request.',
      'System/Service Control Manager/7000: … The service did not start due to a logon failure.',
      'DNS names served by the DCs stop resolving; the enterprise CA on the DC cannot be reached.',
    ],
    fix: 'Start the domain controller (power it on; NTDS starts with it), wait for replication, then start the services that failed.',
    certainty: 'practitioner',
    note: 'ocs-facts §8.5 [B] ("only DC down in lab"). Shuts down every DC of the topology, the targeted one first, so that no DC is left: the lab topology has two. The DCs also run DNS and the CA, which go down with them, as on the real servers.',
    inject: ({ lab, topology, target }) => {
      const all = dcs(topology);
      if (!all.some((d) => d.toLowerCase() === target.toLowerCase())) return { applied: false, note: `${target} is not a domain controller` };
      const order = [target, ...all.filter((d) => d.toLowerCase() !== target.toLowerCase())];
      const stopped: string[] = [];
      for (const dc of order) {
        const ref = lab.get(hostId(dc));
        if (hostPoweredOn(ref) && hostShutdown(ref).ok) stopped.push(dc);
      }
      return { applied: true, note: stopped.length ? `shut down ${stopped.join(', ')}` : 'every DC was already down' };
    },
  },
  {
    id: 'forestprep-before-schema-replicated',
    title: 'ForestPrep run against a domain controller the schema changes have not reached',
    category: 'directory',
    target: 'host',
    defaultTarget: secondDc,
    where: 'Before SchemaPrep has replicated to the targeted DC (best at the start of Part 2 or before SchemaPrep); the next ForestPrep runs against that DC.',
    symptoms: [
      'Wait for replication: "replication has not converged" (the DC lags).',
      'LCSCmd /Forest /Action:ForestPrep fails: the schema is not prepared on that DC — "run LCSCmd.exe /Forest /Action:SchemaPrep and wait for the schema changes to replicate".',
      'CheckSchemaPrepState against that DC: Not Ready, while the Schema Master reports Ready.',
    ],
    fix: 'Force replication (repadmin /syncall /AdeP) or wait until the schema has replicated to every DC, check CheckSchemaPrepState against the DC, then run ForestPrep again.',
    certainty: 'practitioner',
    note: 'ocs-facts §1.1, §8.14 [V]. An operator-timing mistake: modelled as a DC whose inbound replication runs on a 180-minute schedule (the default inter-site interval; the lab has one site, so this is a per-DC delay) plus the next ForestPrep that names no DC running against that DC (LCSCmd run on a machine whose logon DC it is). Not applied when the schema has already reached that DC, or with one DC.',
    inject: ({ lab, topology, target, rewriteNext }) => {
      const ad = lab.get('ad');
      if (!ad) return { applied: false, note: 'no Active Directory in the lab' };
      if (!dcs(topology).some((d) => d.toLowerCase() === target.toLowerCase())) return { applied: false, note: `${target} is not a domain controller` };
      if (dcs(topology).length < 2) return { applied: false, note: 'one domain controller: ForestPrep runs where SchemaPrep did' };
      const state = (() => {
        try {
          return adPrepState(ad, target).schema;
        } catch {
          return undefined;
        }
      })();
      if (state === undefined) return { applied: false, note: `${target} is not a domain controller` };
      if (state === 'Ready') return { applied: false, note: `the schema changes have already reached ${target}; ForestPrep there would succeed` };
      const r = adSetInboundReplicationDelay(ad, { dc: target, delayMs: INTER_SITE_INTERVAL_MS });
      if (!r.ok) return { applied: false, note: r.failure.message };
      rewriteNext('ad.forestPrep', (p) => (p.dc === undefined ? { ...p, dc: target } : undefined));
      return { applied: true, note: `${target} receives changes 180 min late; the next ForestPrep runs against it` };
    },
  },
  {
    id: 'schemaprep-remote-registry-stopped',
    title: 'Remote Registry is stopped on the Schema Master',
    category: 'directory',
    target: 'host',
    defaultTarget: firstDc,
    where: 'Before SchemaPrep (Part 2); the Schema Master is the first DC.',
    symptoms: [
      'LCSCmd /Forest /Action:SchemaPrep fails: cannot connect to the Schema Master through the Remote Registry service. The RPC server is unavailable. (0x800706BA)',
      'services.msc on the Schema Master: Remote Registry Stopped, Manual.',
    ],
    fix: 'Start the Remote Registry service on the Schema Master (and set it back to Automatic), then run SchemaPrep again.',
    certainty: 'verified',
    note: 'ocs-facts §1.1, §8.14 [V]. Stopped and set to Manual (a hardened build), so a reboot does not bring it back.',
    inject: ({ lab, target }) => {
      const ref = lab.get(hostId(target));
      if (!hostPoweredOn(ref)) return { applied: false, note: `${target} is not running` };
      const svc = hostService(ref, 'RemoteRegistry');
      if (!svc) return { applied: false, note: `no Remote Registry service on ${target}` };
      hostSetStartupType(ref, { name: svc.name, startupType: 'Manual' });
      if (svc.state === 'Running' || svc.state === 'Start Pending') hostStopService(ref, { name: svc.name });
      return { applied: true, note: `Remote Registry on ${target} stopped and set to Manual` };
    },
  },
];
