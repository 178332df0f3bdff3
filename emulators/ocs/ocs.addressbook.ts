/** The Address Book Server (ABServer.exe): the pool's address book files, published on its front ends. */
import { ok } from '../../sim/result.js';
import { findPool, logWizard } from './ocs.store.js';
import { attr, ev, refused, type WizardContext, type WizardOutcome } from './ocs.wizard.js';

// ---------------------------------------------------------------------------------------------------
// Address Book Server (ABServer.exe -syncNow, ocs-facts §6): the pool's users from the RTC database,
// with their directory attributes, written as full address book files and published to the ABS
// virtual directories of every front end of the pool.

/** The full file's name: F-<day number in hex> (the real naming scheme's day base is [U]). */
export const addressBookFileName = (now: number, extension: 'lsabs' | 'dabs') => `F-${Math.floor(now / 86_400_000).toString(16).padStart(4, '0')}.${extension}`;

export function syncAddressBook(ctx: WizardContext, args: { pool: string }): WizardOutcome<{ files: string[]; users: number }> {
  const pool = findPool(ctx.store, args.pool);
  if (!pool) return refused(ctx, 'ocs.noSuchPool', `ABServer: the pool ${args.pool} does not exist.`);
  const { peers } = ctx;
  if (!peers.sql.online(pool.backEnd)) return refused(ctx, 'ocs.backEndUnavailable', `ABServer: cannot connect to the RTC database on ${pool.backEndFqdn}.`);
  const rows = peers.sql.read(pool.backEnd, 'RTC', 'Resource');
  if (!rows.ok) return refused(ctx, 'ocs.backEndUnavailable', `ABServer: reading the RTC database failed: ${rows.failure.message}`);
  const entries = rows.value
    .map((r) => r.row)
    .filter((row) => row.homePool === pool.name)
    .map((row) => {
      const user = peers.ad.findUser(String(row.sam ?? ''));
      const a = (name: string) => (user ? (attr(user, name) ?? '') : '');
      return [String(row.sipAddress ?? ''), a('displayName'), a('givenName'), a('sn'), a('mail'), a('telephoneNumber'), a('title'), a('department')].join('\t');
    })
    .sort();
  // The real .lsabs/.dabs formats are binary; the lab writes the same content as tab-separated text.
  const content = ['ocslab address book (emulated ABServer output; the real file is binary)', `pool\t${pool.fqdn}`, `generated\t${new Date(ctx.env.now()).toISOString()}`, 'sipAddress\tdisplayName\tgivenName\tsn\tmail\ttelephoneNumber\ttitle\tdepartment', ...entries, ''].join('\r\n');
  const files = [
    { name: addressBookFileName(ctx.env.now(), 'lsabs'), content },
    { name: addressBookFileName(ctx.env.now(), 'dabs'), content },
  ];
  const published: string[] = [];
  for (const server of ctx.store.servers.filter((s) => s.pool === pool.name && s.activated)) {
    for (const vdir of ['/Abs/Int/Handler', '/Abs/Ext/Handler']) {
      const r = peers.iis.publishFiles(server.host, vdir, files);
      if (!r.ok) return refused(ctx, 'ocs.prerequisiteMissing', `ABServer: publishing to ${server.fqdn}${vdir} failed: ${r.failure.message}`);
    }
    published.push(server.host);
  }
  const names = files.map((f) => f.name);
  return {
    store: logWizard(ctx.store, [`[Success] ABServer wrote ${entries.length} entries to ${names.join(', ')}`]),
    emitted: [ev('ocs.addressBookGenerated', `Address Book Server: ${entries.length} user(s) of ${pool.name} in ${names.join(', ')}, published on ${published.join(', ') || 'no front end'}`, { pool: pool.name, files: names, users: entries.length })],
    result: ok({ files: names, users: entries.length }),
    durationMs: 10_000,
  };
}
