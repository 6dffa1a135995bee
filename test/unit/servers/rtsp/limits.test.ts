import { describe, expect, it } from 'vitest';
import { addressKey, evictionThreshold, KeyCounter, pickEviction, type EvictionCandidate } from '../../../../server/servers/rtsp/limits.ts';

describe('addressKey', () => {
  const cases: Array<[string, string]> = [
    ['192.0.2.7', '192.0.2.7'],
    ['127.0.0.1', '127.0.0.1'],
    // One /64 is one host or LAN (RFC 4291 §2.5.4): its addresses count together.
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    // Not an address we can parse: counted as written rather than lumped with others.
    ['1:2:3', '1:2:3'],
    ['', ''],
  ];
  it.each(cases)('%s → %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
  it('tells two /64s apart', () => {
    expect(addressKey('2001:db8:0:1::1')).not.toBe(addressKey('2001:db8:0:2::1'));
  });
});

describe('KeyCounter', () => {
  it('counts per key and forgets a key at zero', () => {
    const c = new KeyCounter();
    c.add('a');
    c.add('a');
    c.add('b');
    expect([c.get('a'), c.get('b'), c.get('c'), c.size]).toEqual([2, 1, 0, 2]);
    c.remove('a');
    c.remove('b');
    expect([c.get('a'), c.get('b'), c.size]).toEqual([1, 0, 1]);
    c.remove('a');
    expect(c.size).toBe(0);
  });
});

describe('pickEviction', () => {
  const conn = (name: string, o: Partial<EvictionCandidate>) => ({ name, active: false, sessions: 0, requested: true, lastRequestAt: 0, ...o });

  it('never picks a connection with a playing or recording session, however idle', () => {
    expect(pickEviction([conn('player', { active: true, sessions: 1, lastRequestAt: -1e9 })])).toBeUndefined();
    expect(pickEviction([conn('player', { active: true, sessions: 1, lastRequestAt: -1e9 }), conn('probe', { lastRequestAt: 5 })])?.name).toBe('probe');
  });

  it('takes silent connections first, then those without a session, then set-up-but-not-playing ones', () => {
    const all = [
      conn('setup-only', { sessions: 1, lastRequestAt: 1 }),
      conn('no-session', { lastRequestAt: 2 }),
      conn('silent', { requested: false, lastRequestAt: 3 }),
    ];
    expect(pickEviction(all)?.name).toBe('silent');
    expect(pickEviction(all.slice(0, 2))?.name).toBe('no-session');
    expect(pickEviction(all.slice(0, 1))?.name).toBe('setup-only');
  });

  it('within a rank, the one quiet the longest: a player mid-handshake has just spoken', () => {
    const all = [conn('handshaking', { lastRequestAt: 1000 }), conn('idle', { lastRequestAt: 10 }), conn('idler', { lastRequestAt: 5 })];
    expect(pickEviction(all)?.name).toBe('idler');
  });
});

describe('evictionThreshold', () => {
  it('starts a few connections below the cap, never below one', () => {
    expect(evictionThreshold(2064)).toBe(2064 - 129);
    expect(evictionThreshold(68)).toBe(64);
    expect(evictionThreshold(10)).toBe(9);
    expect(evictionThreshold(1)).toBe(1);
  });
});
