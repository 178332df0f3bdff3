/**
 * How the OCS Windows services start: whether a start is refused (and with which events), and what the
 * Front-End service logs once it runs.
 */
import type { EventLogWrite } from '../../sim/journal.js';
import type { StartRefusal } from '../host/host.events.js';
import { FRONT_END_SERVICE, MONITORING_AGENT_SERVICE, MSMQ_FEATURE, OCS_SERVICES, findPool, findServer, type CertificateRecord, type OcsStore, type PoolRecord } from './ocs.store.js';
import type { Emitted, WizardContext } from './ocs.wizard.js';

// ---------------------------------------------------------------------------------------------------
// Service start decisions (host.serviceStarting)

export function startRefusal(ctx: WizardContext, host: string, service: string): StartRefusal | undefined {
  const server = findServer(ctx.store, host);
  if (!server) return undefined;
  const def = OCS_SERVICES.find((s) => s.name.toLowerCase() === service.toLowerCase());
  if (!def) return undefined;
  const ocsLog = (source: string, eventId: number, message: string): EventLogWrite['entry'] => ({ host: server.host, log: 'Office Communications Server', source, eventId, level: 'Error', message });
  if (def.name === FRONT_END_SERVICE) {
    if (!server.certificate) {
      return {
        scmEventId: 7024,
        // SCM prints the service-specific error as "%%<code>"; CRYPT_E_NOT_FOUND (0x80092004) [U].
        error: '%%-2146885628',
        events: [ocsLog('OCS Protocol Stack', 14397, `No certificate is configured for ${server.fqdn}. The server cannot listen on TLS port 5061. Run the Certificate Wizard to request and assign a certificate whose subject name is the pool FQDN.`)],
      };
    }
    const wildcard = [server.certificate.subjectCN, ...server.certificate.sans].find((n) => n.includes('*'));
    if (wildcard) {
      // ocs-facts §4, §8.11 [B]: wildcard entries stop the OCS services from starting. Event ID and text [U].
      return {
        scmEventId: 7024,
        // CERT_E_INVALID_NAME (0x800B0114) [U].
        error: '%%-2146762476',
        events: [
          ocsLog(
            'OCS Protocol Stack',
            14397,
            `The certificate configured for ${server.fqdn} (CN=${server.certificate.subjectCN}, thumbprint ${server.certificate.thumbprint}) cannot be used: its subject alternative name contains the wildcard entry "${wildcard}", which is not supported. The server cannot listen on TLS port 5061. Request a certificate without wildcard entries and assign it with the Certificate Wizard.`,
          ),
        ],
      };
    }
    const pool = findPool(ctx.store, server.pool);
    if (pool && !ctx.peers.sql.online(pool.backEnd)) {
      return {
        scmEventId: 7024,
        // E_FAIL (0x80004005) [U].
        error: '%%-2147467259',
        events: [ocsLog('OCS User Services', 32174, `Server startup is being delayed because the back-end database ${pool.backEndFqdn} cannot be reached. Verify SQL Server is running and reachable.`)],
      };
    }
  }
  if (def.name === MONITORING_AGENT_SERVICE && !ctx.peers.host.features(server.host).includes(MSMQ_FEATURE)) {
    return {
      scmEventId: 7024,
      // MQ_ERROR_SERVICE_NOT_AVAILABLE (0xC00E000B): Message Queuing is not there [U].
      error: '%%-1072824309',
      events: [ocsLog('OCS Monitoring Agent', 32062, `The Monitoring Agent cannot create the administrative message queue on ${server.fqdn}. Message Queuing (MSMQ) is not installed. Install Message Queuing Server and start the service again.`)],
    };
  }
  return undefined;
}

/** Whether a certificate names the pool (subject or SAN), as peers dialling the pool FQDN require (ocs-facts §4). */
export function certificateCoversPool(cert: CertificateRecord, pool: PoolRecord): boolean {
  const want = pool.fqdn.toLowerCase();
  return cert.subjectCN.toLowerCase() === want || cert.sans.some((s) => s.toLowerCase() === want);
}

/**
 * What RtcSrv logs once it is running: with a certificate that does not name the pool FQDN, the server's
 * own outgoing MTLS connections to the pool (conferencing servers, web components, other front ends) fail
 * the name check, event 14428 (ocs-facts §4, §8.7 [V]).
 */
export function frontEndStartedEvents(store: OcsStore, host: string): Emitted[] {
  const server = findServer(store, host);
  const pool = server ? findPool(store, server.pool) : undefined;
  if (!server?.certificate || !pool || certificateCoversPool(server.certificate, pool)) return [];
  const cert = server.certificate;
  return [
    {
      type: 'eventlog.write',
      summary: `${server.host}: OCS Protocol Stack event 14428 (TLS outgoing connection failures to ${pool.fqdn})`,
      entry: {
        host: server.host,
        log: 'Office Communications Server',
        source: 'OCS Protocol Stack',
        eventId: 14428,
        level: 'Error',
        message: `TLS outgoing connection failures.\n\nOver the past 1 minutes, Office Communications Server has experienced TLS outgoing connection failures 4 time(s). The error code of the last failure is 0x80090322 (The target principal name is incorrect.) while trying to connect to the host "${pool.fqdn}".\nCause: Wrong principal error could happen if the peer presents a certificate whose subject name does not match the peer name. The certificate presented by this server has subject CN=${cert.subjectCN}${cert.sans.length ? ` and SAN ${cert.sans.join(', ')}` : ''}.\nResolution: Check that the certificate has the pool FQDN ${pool.fqdn} as its subject name, reissue it with the Certificate Wizard and restart the Front-End service.`,
      },
    } as EventLogWrite,
  ];
}
