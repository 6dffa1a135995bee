import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getHeader, parseRequest } from '../../../../server/protocols/rtsp/message.ts';
import { parseTransport, writeTransport, type TransportSpec } from '../../../../server/protocols/rtsp/transport.ts';
import { fixture, fixtureNames } from '../../../fixtures/rtsp/load.ts';

function parseOne(value: string): TransportSpec {
  const r = parseTransport(value);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  expect(r.value).toHaveLength(1);
  return r.value[0]!;
}

// Canonical text ⇄ spec: parse gives the spec, write gives the text back.
const cases: Array<{ name: string; text: string; spec: TransportSpec }> = [
  {
    name: 'ffmpeg publish tcp',
    text: 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record',
    spec: { protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], mode: 'record', extra: [] },
  },
  {
    name: 'GStreamer play tcp',
    text: 'RTP/AVP/TCP;unicast;interleaved=2-3',
    spec: { protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [2, 3], extra: [] },
  },
  {
    name: 'GStreamer play udp (no lower transport means UDP)',
    text: 'RTP/AVP;unicast;client_port=5000-5001',
    spec: { protocol: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: [5000, 5001], extra: [] },
  },
  {
    name: 'server reply udp with ssrc',
    text: 'RTP/AVP/UDP;unicast;client_port=5000-5001;server_port=6256-6257;ssrc=0000ABCD;mode=play',
    spec: {
      protocol: 'RTP/AVP/UDP',
      lowerTransport: 'UDP',
      delivery: 'unicast',
      clientPort: [5000, 5001],
      serverPort: [6256, 6257],
      ssrc: 0xabcd,
      mode: 'play',
      extra: [],
    },
  },
  {
    name: 'multicast with destination and ttl',
    text: 'RTP/AVP;multicast;destination=224.2.0.1;ttl=16;port=3456-3457',
    spec: {
      protocol: 'RTP/AVP',
      lowerTransport: 'UDP',
      delivery: 'multicast',
      destination: '224.2.0.1',
      ttl: 16,
      extra: [['port', '3456-3457']],
    },
  },
  {
    name: 'source and unknown params kept in order',
    text: 'RTP/SAVP;unicast;source=10.0.0.1;append;layers=2;x-foo="a;b"',
    spec: {
      protocol: 'RTP/SAVP',
      lowerTransport: 'UDP',
      delivery: 'unicast',
      source: '10.0.0.1',
      extra: [['append', undefined], ['layers', '2'], ['x-foo', '"a;b"']],
    },
  },
  {
    name: 'ssrc ffffffff',
    text: 'RTP/AVP/TCP;interleaved=4-5;ssrc=FFFFFFFF',
    spec: { protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', interleaved: [4, 5], ssrc: 0xffffffff, extra: [] },
  },
];

describe('transport case table', () => {
  for (const c of cases) {
    it(`${c.name}: parse`, () => expect(parseOne(c.text)).toEqual(c.spec));
    it(`${c.name}: write`, () => expect(writeTransport(c.spec)).toBe(c.text));
    it(`${c.name}: round trip`, () => expect(parseOne(writeTransport(c.spec))).toEqual(c.spec));
  }
});

describe('parse variants', () => {
  it('a single interleaved channel or port means the pair', () => {
    expect(parseOne('RTP/AVP/TCP;unicast;interleaved=4').interleaved).toEqual([4, 5]);
    expect(parseOne('RTP/AVP;unicast;client_port=5000').clientPort).toEqual([5000, 5001]);
  });

  it('mode is case-insensitive and may be quoted', () => {
    expect(parseOne('RTP/AVP/TCP;interleaved=0-1;mode="RECORD"').mode).toBe('record');
    expect(parseOne('RTP/AVP/TCP;interleaved=0-1;mode=Record').mode).toBe('record');
    expect(parseOne('RTP/AVP/TCP;interleaved=0-1;mode="PLAY"').mode).toBe('play');
    expect(parseOne('RTP/AVP/TCP;interleaved=0-1;mode=receive').mode).toBe('record'); // ffmpeg's synonym
  });

  it('an unknown mode is kept as an extra param', () => {
    const s = parseOne('RTP/AVP;unicast;mode="PLAY,RECORD"');
    expect(s.mode).toBeUndefined();
    expect(s.extra).toEqual([['mode', '"PLAY,RECORD"']]);
  });

  it('lower transport and param names are case-insensitive; whitespace and trailing ; tolerated', () => {
    const s = parseOne(' RTP/AVP/tcp ; Unicast ; INTERLEAVED=0-1 ; ');
    expect(s.lowerTransport).toBe('TCP');
    expect(s.delivery).toBe('unicast');
    expect(s.interleaved).toEqual([0, 1]);
  });

  it('short ssrc (leading zeros dropped by some cameras)', () => {
    expect(parseOne('RTP/AVP;unicast;ssrc=1f').ssrc).toBe(0x1f);
  });

  it('several alternatives, in order; commas inside quotes do not split', () => {
    const r = parseTransport('RTP/AVP/TCP;unicast;interleaved=0-1;mode="PLAY,RECORD", RTP/AVP;unicast;client_port=5000-5001');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.map((s) => s.lowerTransport)).toEqual(['TCP', 'UDP']);
    expect(r.value[0]!.extra).toEqual([['mode', '"PLAY,RECORD"']]);
  });

  it('alternatives over an unknown lower transport are skipped; only those is 461', () => {
    const r = parseTransport('RTP/AVP/SCTP;unicast, RTP/AVP/TCP;interleaved=0-1');
    expect(r.ok && r.value.map((s) => s.protocol)).toEqual(['RTP/AVP/TCP']);
    const only = parseTransport('RTP/AVP/SCTP;unicast');
    expect(only.ok).toBe(false);
    if (!only.ok) {
      expect(only.error.status).toBe(461);
      expect(only.error.code).toBe('unsupported_transport');
    }
  });

  const bad = [
    '',
    ' , ',
    'RTP',
    'RTP/AVP/TCP/X',
    'RTP/AVP;interleaved=',
    'RTP/AVP;interleaved=a-b',
    'RTP/AVP;interleaved=256',
    'RTP/AVP;interleaved=255', // 255-256: the RTCP channel does not exist
    'RTP/AVP;client_port=65536',
    'RTP/AVP;client_port=1-2-3',
    'RTP/AVP;server_port=x',
    'RTP/AVP;ssrc=123456789',
    'RTP/AVP;ssrc=xyz',
    'RTP/AVP;ttl=256',
    'RTP/AVP;unicast=1',
    'RTP/AVP;mode',
    'RTP/AVP;mode="play',
    'RTP/AVP;=1',
  ];
  for (const text of bad) {
    it(`400 for ${JSON.stringify(text)}`, () => {
      const r = parseTransport(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.status).toBe(400);
        expect(r.error.code).toBe('bad_transport');
      }
    });
  }
});

describe('write', () => {
  it('makes the protocol agree with lowerTransport', () => {
    expect(writeTransport({ protocol: 'RTP/AVP', lowerTransport: 'TCP', interleaved: [0, 1], extra: [] })).toBe('RTP/AVP/TCP;interleaved=0-1');
    expect(writeTransport({ protocol: 'RTP/AVP/TCP', lowerTransport: 'UDP', clientPort: [1, 2], extra: [] })).toBe('RTP/AVP/UDP;client_port=1-2');
    expect(writeTransport({ protocol: 'RTP/AVP', lowerTransport: 'UDP', extra: [] })).toBe('RTP/AVP');
  });

  it('writes ssrc as 8 hex digits and mode bare (ffmpeg does not strip quotes)', () => {
    expect(writeTransport({ protocol: 'RTP/AVP', lowerTransport: 'UDP', ssrc: 1, mode: 'record', extra: [] })).toBe('RTP/AVP;ssrc=00000001;mode=record');
  });
});

describe('fixtures from real peers', () => {
  const setups = fixtureNames(/-setup\.bin$/);

  it('every SETUP Transport parses, and writes back unchanged', () => {
    expect(setups.length).toBeGreaterThanOrEqual(10);
    for (const name of setups) {
      const r = parseRequest(fixture(name));
      if (r.kind !== 'ok') throw new Error(name);
      const value = getHeader(r.value.headers, 'Transport')!;
      const spec = parseOne(value);
      expect(spec.delivery, name).toBe('unicast');
      // GStreamer's rtspclientsink writes mode=RECORD; we write mode=record (ffmpeg's spelling).
      expect(writeTransport(spec), name).toBe(value.replace('mode=RECORD', 'mode=record'));
      expect(parseOne(writeTransport(spec)), name).toEqual(spec);
      if (name.includes('publish')) expect(spec.mode, name).toBe('record');
      else expect(spec.mode, name).toBeUndefined(); // players leave mode out: PLAY is the default
    }
  });

  const transportOf = (name: string): TransportSpec => {
    const r = parseRequest(fixture(name));
    if (r.kind !== 'ok') throw new Error(name);
    return parseOne(getHeader(r.value.headers, 'Transport')!);
  };

  it('ffmpeg publishing over TCP: interleaved 0-1 then 2-3, mode=record', () => {
    expect(transportOf('ffmpeg-5.1-publish-tcp-03-setup.bin')).toEqual({
      protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], mode: 'record', extra: [],
    });
    expect(transportOf('ffmpeg-5.1-publish-tcp-04-setup.bin').interleaved).toEqual([2, 3]);
  });

  it('GStreamer rtspclientsink: mode=RECORD in upper case, first SETUP is its stream=1 (audio)', () => {
    expect(transportOf('gstreamer-1.22-publish-tcp-03-setup.bin')).toEqual({
      protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: [0, 1], mode: 'record', extra: [],
    });
    const udp = transportOf('gstreamer-1.22-publish-udp-03-setup.bin');
    expect(udp.protocol).toBe('RTP/AVP/UDP');
    expect(udp.mode).toBe('record');
  });

  it('ffmpeg over UDP says RTP/AVP/UDP; GStreamer rtspsrc says RTP/AVP', () => {
    const ff = transportOf('ffmpeg-5.1-publish-udp-03-setup.bin');
    expect(ff.protocol).toBe('RTP/AVP/UDP');
    expect(ff.clientPort![1]).toBe(ff.clientPort![0] + 1);
    expect(ff.mode).toBe('record');
    const gst = transportOf('gstreamer-1.22-play-udp-03-setup.bin');
    expect(gst.protocol).toBe('RTP/AVP');
    expect(gst.lowerTransport).toBe('UDP');
    expect(gst.clientPort![0] % 2).toBe(0); // RTP on an even port (RFC 3550 §11)
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const pair = (max: number): fc.Arbitrary<[number, number]> => fc.tuple(fc.integer({ min: 0, max }), fc.integer({ min: 0, max }));
const KNOWN = new Set(['unicast', 'multicast', 'interleaved', 'client_port', 'server_port', 'mode', 'ssrc', 'ttl', 'destination', 'source']);
const extraName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/).filter((n) => !KNOWN.has(n));
const extraValue = fc.option(fc.stringMatching(/^[A-Za-z0-9._:\/-]{1,12}$/), { nil: undefined });

const spec: fc.Arbitrary<TransportSpec> = fc
  .record(
    {
      base: fc.constantFrom(
        { protocol: 'RTP/AVP', lowerTransport: 'UDP' as const },
        { protocol: 'RTP/AVP/UDP', lowerTransport: 'UDP' as const },
        { protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP' as const },
        { protocol: 'RTP/SAVP', lowerTransport: 'UDP' as const },
        { protocol: 'RTP/AVPF/TCP', lowerTransport: 'TCP' as const },
      ),
      delivery: fc.constantFrom('unicast' as const, 'multicast' as const),
      interleaved: pair(255),
      clientPort: pair(65535),
      serverPort: pair(65535),
      mode: fc.constantFrom('play' as const, 'record' as const),
      ssrc: fc.integer({ min: 0, max: 0xffffffff }),
      destination: fc.stringMatching(/^[a-z0-9.:]{1,20}$/),
      source: fc.stringMatching(/^[a-z0-9.:]{1,20}$/),
      ttl: fc.integer({ min: 0, max: 255 }),
      extra: fc.array(fc.tuple(extraName, extraValue), { maxLength: 4 }),
    },
    { requiredKeys: ['base', 'extra'] },
  )
  .map(({ base, ...rest }) => ({ ...base, ...rest }) as TransportSpec);

describe('properties', () => {
  it('parse(write(spec)) equals the spec', () => {
    fc.assert(
      fc.property(spec, (s) => {
        expect(parseOne(writeTransport(s))).toEqual(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('a list of specs round-trips through one header', () => {
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 4 }), (specs) => {
        const r = parseTransport(specs.map(writeTransport).join(', '));
        expect(r.ok && r.value).toEqual(specs);
      }),
    );
  });

  it('any string: a result, never a throw', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const r = parseTransport(text);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });
});
