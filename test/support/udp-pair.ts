// An even RTP port and the RTCP port after it (RFC 3550 §11), bound on loopback: what a UDP player offers in SETUP.
import dgram from 'node:dgram';
import { once } from 'node:events';

export interface UdpPair {
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  ports: [number, number];
}

export async function bindUdpPair(): Promise<UdpPair> {
  for (;;) {
    const rtp = dgram.createSocket('udp4');
    rtp.bind(0, '127.0.0.1');
    await once(rtp, 'listening');
    const port = rtp.address().port;
    if (port % 2 !== 0 || port === 65535) {
      rtp.close();
      continue;
    }
    const rtcp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      rtcp.once('error', () => resolve(false));
      rtcp.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { rtp, rtcp, ports: [port, port + 1] };
    rtp.close();
    rtcp.close();
  }
}
