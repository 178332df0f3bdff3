import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSd, encodeSd, parseSddl, sdToBytes, toSddl } from './ad.security.js';

const SID = 'S-1-5-21-3623811015-3361044348-30300820-1013';

describe('security descriptors', () => {
  it('goes from SDDL to the self-relative bytes and back, object ACEs included', () => {
    const sddl = `D:(OA;CIIO;RPWP;e2a6c9aa-2e8e-4d4c-a7c0-0c14e0b2f3a1;bf967aba-0de6-11d0-a285-00aa003049e2;${SID})(A;CI;LCRPLORC;;;S-1-5-11)`;
    const bytes = sdToBytes(sddl) as Buffer;
    expect(bytes[0]).toBe(1);
    expect(bytes.readUInt16LE(2) & 0x8004).toBe(0x8004);
    const back = decodeSd(bytes);
    expect(back?.dacl.map(({ raw: _raw, ...a }) => a)).toEqual([
      { type: 5, flags: 0x0a, mask: 0x30, objectType: 'e2a6c9aa-2e8e-4d4c-a7c0-0c14e0b2f3a1', inheritedObjectType: 'bf967aba-0de6-11d0-a285-00aa003049e2', sid: SID },
      { type: 0, flags: 0x02, mask: 0x20094, sid: 'S-1-5-11' },
    ]);
    expect(toSddl(back ?? { dacl: [] })).toBe(sddl);
  });

  it('keeps owner and group, and refuses SDDL outside its subset', () => {
    const sd = parseSddl(`O:S-1-5-32-544G:S-1-5-18D:(A;;GA;;;${SID})`);
    expect(sd).toMatchObject({ owner: 'S-1-5-32-544', group: 'S-1-5-18' });
    expect(decodeSd(encodeSd(sd ?? { dacl: [] }))).toMatchObject({ owner: 'S-1-5-32-544', group: 'S-1-5-18', control: 0x8004 });
    const again = decodeSd(encodeSd(decodeSd(encodeSd(sd ?? { dacl: [] })) ?? { dacl: [] }));
    expect(encodeSd(again ?? { dacl: [] })).toEqual(encodeSd(sd ?? { dacl: [] }));
    expect(parseSddl('D:(XA;;RP;;;S-1-5-11)')).toBeUndefined();
    expect(parseSddl('D:(A;;ZZ;;;S-1-5-11)')).toBeUndefined();
    expect(parseSddl('D:(A;;RP;;;not-a-sid)')).toBeUndefined();
  });

  it('never throws on bytes a server might send', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      decodeSd(Buffer.from(b));
    }), { numRuns: 3000 });
    const good = sdToBytes(`D:(OA;CI;RP;e2a6c9aa-2e8e-4d4c-a7c0-0c14e0b2f3a1;;${SID})`) as Buffer;
    for (let cut = 0; cut < good.length; cut++) expect(() => decodeSd(good.subarray(0, cut))).not.toThrow();
    const lying = Buffer.from(good);
    lying.writeUInt16LE(0xffff, 20 + 2);
    expect(decodeSd(lying)).toBeUndefined();
  });
});
