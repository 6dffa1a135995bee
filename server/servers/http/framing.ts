// A fragment framed for the wire once, for every HTTP player or viewer that sends it (the fragment itself is shared:
// TrackMux.fragmentOf): one buffer, one write per reader.
import { framedOnce, type MuxedFragment } from '../../protocols/fmp4/sample-muxer.ts';

const CRLF = Buffer.from('\r\n');

/** A fragment as one HTTP/1.1 chunk (RFC 9112 §7.1: size in hex, CRLF, data, CRLF), made once and shared by every player. */
export function chunkOf(f: MuxedFragment): Uint8Array {
  return framedOnce(f, 'http-chunk', () => Buffer.concat([Buffer.from(`${f.bytes.toString(16)}\r\n`, 'latin1'), ...f.chunks, CRLF]));
}

/** A fragment as one unmasked binary WebSocket frame (RFC 6455 §5.2: FIN, opcode 2, a server's frames are not masked). */
export function frameOf(f: MuxedFragment): Uint8Array {
  return framedOnce(f, 'ws-frame', () => {
    const n = f.bytes;
    const header = Buffer.alloc(n < 126 ? 2 : n < 65536 ? 4 : 10);
    header[0] = 0x82;
    if (n < 126) header[1] = n;
    else if (n < 65536) {
      header[1] = 126;
      header.writeUInt16BE(n, 2);
    } else {
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(n), 2);
    }
    return Buffer.concat([header, ...f.chunks]);
  });
}
