/** Faults of the host emulator (see docs/emulator-guide.md, "Faults"). */
import { firstFrontEnd, type FaultDefinition } from '../../sim/faults.js';
import { hostId } from './host.events.js';
import { hostPoweredOn, hostService, hostSetBootHang, hostSetClockOffset, hostSetServiceLogon } from './host.client.js';

const CLOCK_SKEW_MS = 10 * 60_000;

export const hostFaults: FaultDefinition[] = [
  {
    id: 'service-account-password-wrong',
    title: "The Front-End service's stored logon password no longer matches Active Directory",
    category: 'accounts',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'A front end after Add Server to Pool (RtcSrv installed); the symptom appears at the next start of RtcSrv.',
    symptoms: [
      'System/Service Control Manager/7038: The RtcSrv service was unable to log on as CORP\\RTCService with the currently configured password due to the following error: Logon failure: unknown user name or bad password.',
      'System/Service Control Manager/7000: The Office Communications Server Front-End service failed to start due to the following error: The service did not start due to a logon failure.',
      'Start Services: "The Office Communications Server Front-End service failed to start"; RtcSrv Stopped.',
    ],
    fix: 'Set the correct password on the Log On tab of the Front-End service (services.msc, or sc config RtcSrv password=), then start the OCS services.',
    certainty: 'practitioner',
    note: 'Modelled on the SCM side: the password stored for RtcSrv is changed to one AD does not accept (what is left after someone resets RTCService in AD only, or mistypes it on the Log On tab). A running RtcSrv keeps running; the failure shows at its next start, as on Windows.',
    inject: ({ lab, target }) => {
      const ref = lab.get(hostId(target));
      if (!hostPoweredOn(ref)) return { applied: false, note: `${target} is not running` };
      const svc = hostService(ref, 'RtcSrv');
      if (!svc) return { applied: false, note: `RtcSrv is not installed on ${target} yet (Add Server to Pool has not run); nothing to change` };
      const r = hostSetServiceLogon(ref, { name: svc.name, account: svc.logOnAs, password: `${svc.password ?? ''}-stale` });
      return r.ok
        ? { applied: true, note: `RtcSrv on ${target} now holds a password for ${svc.logOnAs} that AD rejects (${svc.state}; fails at its next start)` }
        : { applied: false, note: r.failure.message };
    },
  },
  {
    id: 'clock-skew',
    title: "A server's clock is more than 5 minutes off the domain controller's",
    category: 'platform',
    target: 'host',
    defaultTarget: firstFrontEnd,
    where: 'Any server other than the DC holding the time; at any moment (services already running keep running; the next Kerberos logon fails).',
    symptoms: [
      'System/Service Control Manager/7038: The RtcSrv service was unable to log on as CORP\\RTCService with the currently configured password due to the following error: There is a time and/or date difference between the client and server.',
      'System/Service Control Manager/7000: The Office Communications Server Front-End service failed to start due to the following error: The service did not start due to a logon failure.',
      'Kerberos clients get 401.1 from the Web Components (address book, group expansion) on that server: KRB_AP_ERR_SKEW.',
      'w32tm /stripchart /computer:dc01 shows an offset of about 600 s.',
    ],
    fix: 'Resynchronize the clock with the domain hierarchy (w32tm /resync; make sure the Windows Time service runs), then start the services that failed.',
    certainty: 'practitioner',
    note: 'The clock is set 10 minutes ahead of the domain (the first available DC). Kerberos tolerance is the default 5 minutes. Domain-account service logons fail with Win32 1398 (7038 + 7000) and IIS rejects Kerberos; NTLM still works. The exact event text on a real server may also include Kerberos/Security-Kerberos entries, which are not modelled.',
    inject: ({ lab, target }) => {
      const r = hostSetClockOffset(lab.get(hostId(target)), { offsetMs: CLOCK_SKEW_MS });
      return r.ok ? { applied: true, note: `${target}'s clock set 10 minutes ahead` } : { applied: false, note: `${target}: ${r.failure.message}` };
    },
  },
  {
    id: 'boot-hang-wmiapsrv',
    title: 'After a restart, every OCS service sits in "Starting" for 10–15 minutes',
    category: 'platform',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'A front end at any moment; the hang shows at its next restart (after Add Server to Pool).',
    symptoms: [
      'After a restart, services.msc shows every Office Communications Server service "Starting" (Start Pending) for about 12 minutes.',
      'System/Service Control Manager/7022: The Office Communications Server Front-End service hung on starting.',
      'The services do start in the end, without any change.',
    ],
    fix: 'Make the Front-End service depend on the WMI Performance Adapter and set that service to Automatic: sc config RtcSrv depend= wmiApSrv; sc config wmiApSrv start= auto (Microsoft PSS workaround).',
    certainty: 'practitioner',
    note: 'Schertz, "OCS Services Hang on Startup" (ocs-facts §3 [B]): cause unresolved. Modelled as a boot condition of the host: the services owned by OCS hold Start Pending 12 minutes longer at boot unless one of them depends on wmiApSrv and wmiApSrv is Automatic (both parts of the workaround are required here). 7022 "hung on starting" is the SCM message for a service that overruns its start wait hint; not verified for this case. The box dropping off the network is not modelled.',
    inject: ({ lab, target }) => {
      const r = hostSetBootHang(lab.get(hostId(target)), { owner: 'ocs' });
      return r.ok ? { applied: true, note: `${target}: OCS services will hang at the next boot unless the wmiApSrv workaround is in place` } : { applied: false, note: `${target}: ${r.failure.message}` };
    },
  },
];
