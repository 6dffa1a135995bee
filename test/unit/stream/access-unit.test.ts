// Access units and their interleaved framing: the copy every player's TCP write used to need, and the in-place framing
// of packets laid out with header room (the relay feed's), which must give the same bytes without the copy.
import { describe, expect, it } from 'vitest';
import { h264Payloads, writeRtpPackets } from '../../../server/protocols/rtp/packetize.ts';
import { parseRtpHeader } from '../../../server/protocols/rtp/packet.ts';
import { parseInterleaved } from '../../../server/protocols/rtsp/interleaved.ts';
import { AccessUnitAssembler, framedFor, type AccessUnit } from '../../../server/stream/access-unit.ts';

const idr = (size: number): Uint8Array => {
  const n = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
  n[0] = 0x65;
  return n;
};

function frame(headroom: number, ts = 9000): Uint8Array[] {
  return writeRtpPackets(h264Payloads([idr(5000)], 1400), { payloadType: 96, ssrc: 7, seq: 100, timestamp: ts, markLast: true }, headroom);
}

function assemble(packets: Uint8Array[], headroom: boolean, rule: 'h264' | 'every' = 'h264'): AccessUnit[] {
  const units: AccessUnit[] = [];
  const a = new AccessUnitAssembler(0, rule, (u) => units.push(u));
  for (const p of packets) a.push(p, parseRtpHeader(p)!, headroom);
  return units;
}

/** Every interleaved frame in `bytes`: channel and payload. */
function frames(bytes: Uint8Array): Array<{ channel: number; payload: Uint8Array }> {
  const out: Array<{ channel: number; payload: Uint8Array }> = [];
  let rest = bytes;
  while (rest.length > 0) {
    const r = parseInterleaved(rest);
    if (r.kind !== 'ok') throw new Error(`not interleaved frames: ${r.kind}`);
    out.push({ channel: r.value.channel, payload: new Uint8Array(r.value.payload) });
    rest = rest.subarray(r.consumed);
  }
  return out;
}

describe('framedFor', () => {
  it('frames packets laid out with header room in place: the same bytes as a copy, in the packets own buffer', () => {
    const packets = frame(4);
    const [unit] = assemble(packets, true);
    expect(unit?.span).toBeDefined();
    const inPlace = framedFor(unit!, 0);
    expect(inPlace.buffer).toBe(packets[0]!.buffer);
    const [copied] = assemble(frame(0), false);
    expect(copied?.span).toBeUndefined();
    expect(Buffer.compare(inPlace, framedFor(copied!, 0))).toBe(0);
    expect(frames(inPlace).map((f) => f.payload)).toEqual(packets.map((p) => new Uint8Array(p)));
    // Asked again for the same channel: the same bytes, nothing rebuilt.
    expect(framedFor(unit!, 0)).toBe(inPlace);
  });

  it('gives a player on another channel a copy and leaves the in-place frames as they were', () => {
    const packets = frame(4);
    const [unit] = assemble(packets, true);
    const first = framedFor(unit!, 0);
    const before = Buffer.from(first);
    const other = framedFor(unit!, 2);
    expect(other.buffer).not.toBe(first.buffer);
    expect(frames(other).every((f) => f.channel === 2)).toBe(true);
    expect(frames(other).map((f) => f.payload)).toEqual(frames(first).map((f) => f.payload));
    expect(Buffer.compare(first, before)).toBe(0);
    expect(frames(first).every((f) => f.channel === 0)).toBe(true);
  });

  it('copies when the packets are not one after another in one buffer, or came without header room', () => {
    // Same frame, each packet in its own buffer behind 4 spare bytes: room, but not one span.
    const scattered = frame(4).map((p) => {
      const b = new Uint8Array(p.length + 4);
      b.set(p, 4);
      return b.subarray(4);
    });
    const [a] = assemble(scattered, true);
    expect(a?.span).toBeUndefined();
    // One buffer, but 8 bytes between packets: framing in place would leave 4 stray bytes between frames.
    const [gaps] = assemble(frame(8), true);
    expect(gaps?.span).toBeUndefined();
    // One span, but the producer did not say the room is ours.
    const [b] = assemble(frame(4), false);
    expect(b?.span).toBeUndefined();
    expect(frames(framedFor(a!, 4)).map((f) => f.payload)).toEqual(scattered.map((p) => new Uint8Array(p)));
  });

  it('frames a single-packet unit (audio) in place', () => {
    const [p] = writeRtpPackets([{ head: 0, headSize: 0, body: Uint8Array.of(1, 2, 3) }], { payloadType: 97, ssrc: 1, seq: 5, timestamp: 960, markLast: false }, 4);
    const [unit] = assemble([p!], true, 'every');
    const framed = framedFor(unit!, 2);
    expect(framed.buffer).toBe(p!.buffer);
    expect(frames(framed)).toEqual([{ channel: 2, payload: new Uint8Array(p!) }]);
  });
});

describe('AccessUnitAssembler.flush', () => {
  it('marks a unit cut short by its source leaving (no marker yet) as lost, and keeps its packets for RTSP players', () => {
    const packets = frame(0);
    const units: AccessUnit[] = [];
    const a = new AccessUnitAssembler(0, 'h264', (u) => units.push(u));
    for (const p of packets.slice(0, -1)) a.push(p, parseRtpHeader(p)!);
    expect(units).toHaveLength(0);
    a.flush(true);
    expect(units).toHaveLength(1);
    expect(units[0]?.lost).toBe(true);
    expect(units[0]?.packets).toHaveLength(packets.length - 1);
  });

  it('leaves a whole unit as it is', () => {
    const [unit] = assemble(frame(0), false);
    expect(unit?.lost).toBe(false);
  });
});
