import { describe, expect, it } from 'vitest';
import { formatGuid, guidEquals, isGuid, nameBasedGuid, parseGuid } from '../../src/vss/guid.js';
import { VssError } from '../../src/vss/errors.js';

describe('GUIDs', () => {
  it('parses with and without braces, any case, to the canonical form', () => {
    const c = 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a';
    expect(parseGuid(c)).toBe(c);
    expect(parseGuid('{A65FAA63-5EA8-4EBC-9DBD-A0C4DB26912A}')).toBe(c);
    expect(parseGuid(' 75DFB225-E2E4-4d39-9AC9-FFAFF65DDF06 ')).toBe('75dfb225-e2e4-4d39-9ac9-ffaff65ddf06');
    expect(formatGuid(c, { braces: true, upper: true })).toBe('{A65FAA63-5EA8-4EBC-9DBD-A0C4DB26912A}');
    expect(guidEquals(c, '{' + c.toUpperCase() + '}')).toBe(true);
  });
  it.each(['', 'a65faa63', '{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a', 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a}',
    'a65faa635ea84ebc9dbda0c4db26912a', 'g65faa63-5ea8-4ebc-9dbd-a0c4db26912a', '{{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a}}'])(
    'refuses %j with an error naming the field', (bad) => {
      expect(isGuid(bad)).toBe(false);
      try {
        parseGuid(bad, 'IDENTIFICATION@writerId');
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(VssError);
        expect((e as VssError).message).toMatch(/^IDENTIFICATION@writerId: expected a GUID/);
        expect((e as VssError).category).toBe('input');
      }
    });
  it('name-based GUIDs are stable version-5 GUIDs', () => {
    const a = nameBasedGuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com');
    // RFC 4122 / Python uuid.uuid5(NAMESPACE_DNS, 'www.example.com')
    expect(a).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });
});
