import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../server/net.ts';

// DNS rebinding (issue: "a token bypass"): a page served from a name the attacker controls, rebound to 127.0.0.1,
// sends that name as Host. Only literals and `localhost` may count as loopback.
const REBOUND = [
  '127.0.0.1.evil.example', '127.evil.example', '127.1.2.3.nip.io', 'localhost.evil.example', '127.0.0.1.nip.io',
  '127.0.0.1.EVIL.example', '127.EVIL.EXAMPLE', '127.1.2.3.NIP.IO', 'LOCALHOST.evil.example',
  '127.0.0.1.evil.example.', '127.evil.example.', '127.1.2.3.nip.io.', 'localhost.', 'LOCALHOST.',
  '127.0.0.1.evil.example:8090', '127.evil.example:80', '127.1.2.3.nip.io:8090', 'localhost.:8090',
  '127.0.0.1.evil.example.:8090', 'evil.example', 'evil.example:8090', '[::1].evil.example', '::1',
  'user@localhost', 'evil.example@127.0.0.1', 'localhost/x', 'localhost:8090 evil', '', '127.0.0.1:', '[::2]',
  '128.0.0.1', '0.0.0.0', '[::ffff:7f00:1].evil',
];
const LOCAL = [
  'localhost', 'LOCALHOST', 'Localhost:8090', 'localhost:8090', '127.0.0.1', '127.0.0.1:8090', '127.1.2.3:65535',
  '127.255.255.255', '[::1]', '[::1]:8090', '[0:0:0:0:0:0:0:1]:8090', '127.0.0.1.', '127.1',
];

describe('isLoopbackHost', () => {
  it.each(REBOUND)('%j is not loopback', (host) => expect(isLoopbackHost(host)).toBe(false));
  it.each(LOCAL)('%j is loopback', (host) => expect(isLoopbackHost(host)).toBe(true));
});
