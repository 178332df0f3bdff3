import { describe, expect, it } from 'vitest';
import { emptyStore, homedUserBySam, homedUserBySip, withUser, withUsers, type HomedUser } from './ocs.store.js';

const user = (sam: string, sipAddress: string, pool = 'pool01'): HomedUser => ({ sam, dn: `CN=${sam},CN=Users,DC=corp,DC=example,DC=net`, sipAddress, pool });

describe('the RTC database users', () => {
  it('replaces a user by account name and puts it last, one at a time or as a batch alike', () => {
    const a = user('a', 'sip:a@example.com');
    const b = user('b', 'sip:b@example.com');
    const a2 = user('A', 'sip:a2@example.com', 'pool02');
    const one = withUser(withUser(withUser(emptyStore(), a), b), a2);
    const batch = withUsers(emptyStore(), [a, b, a2]);
    expect(one.users).toEqual([b, a2]);
    expect(batch.users).toEqual(one.users);
  });

  it('finds users by SIP URI (any case, with or without sip:) and by account name, in each version of the store', () => {
    const s1 = withUsers(emptyStore(), [user('ocsuser1', 'sip:ocsuser1@example.com')]);
    const s2 = withUser(s1, user('ocsuser1', 'sip:renamed@example.com'));
    expect(homedUserBySip(s1, 'OCSUser1@Example.com')?.sam).toBe('ocsuser1');
    expect(homedUserBySip(s2, 'sip:ocsuser1@example.com')).toBeUndefined();
    expect(homedUserBySip(s2, 'sip:RENAMED@example.com')?.sam).toBe('ocsuser1');
    expect(homedUserBySip(s1, 'sip:renamed@example.com')).toBeUndefined();
    expect(homedUserBySam(s2, 'OCSUSER1')?.sipAddress).toBe('sip:renamed@example.com');
    expect(homedUserBySam(emptyStore(), 'ocsuser1')).toBeUndefined();
  });
});
