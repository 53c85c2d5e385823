/**
 * Port numbers for test peers that must be told their port before they bind it (sipp's `-p`),
 * and for ports where nothing may answer; and a way to see that such a peer has bound its port.
 *
 * Never from the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 on Linux):
 * a port found free there and released can be taken by any socket that binds port 0 or connects
 * out (the server's own outgoing connections, WebRTC ICE sockets, sipp's media sockets) before
 * the peer binds it. These ports come from a private block below that range, split into one
 * slice per vitest worker (`VITEST_POOL_ID`): test files that run at the same time never hand out
 * the same number, and nothing else on the machine picks ports there by itself. Within its
 * slice a process moves a cursor (a number is not handed out twice) and skips numbers that are
 * still bound, e.g. by a peer of an earlier test file of the same worker that is still exiting.
 *
 * Other private ranges of the tests, kept apart from this block: sipp's own automatic ports
 * (SIP 5060+, media 6000+, control 8888+), the media unit tests' RTP ranges (21000–28999) and
 * the test servers' RTP ranges (22000–31999, {@link testRtpRange}).
 */
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import net from 'node:net';

const PEER_BLOCK_START = 12_000;
const PEER_SLICES = 16;
const PEER_SLICE_SIZE = 500;

/** The vitest worker slot of this process (1-based; outside vitest, derived from the pid). */
function workerSlot(): number {
  const id = Number(process.env['VITEST_POOL_ID']);
  return Number.isInteger(id) && id > 0 ? id : 1 + (process.pid % PEER_SLICES);
}

const sliceStart = PEER_BLOCK_START + ((workerSlot() - 1) % PEER_SLICES) * PEER_SLICE_SIZE;
// Successive test files of one worker start at different offsets of the slice.
let cursor = process.pid % PEER_SLICE_SIZE;

function bindsUdp(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => {
      socket.close(() => resolve(true));
    });
  });
}

function listensTcp(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * A port of 127.0.0.1 from this worker's private slice, free on UDP and TCP, for a peer told its
 * port on the command line (sipp `-p`) or for a Contact where nothing listens.
 */
export async function peerPort(): Promise<number> {
  for (let scanned = 0; scanned < PEER_SLICE_SIZE; scanned++) {
    const port = sliceStart + cursor;
    cursor = (cursor + 1) % PEER_SLICE_SIZE;
    if ((await bindsUdp(port)) && (await listensTcp(port))) {
      return port;
    }
  }
  throw new Error(
    `no free port in ${String(sliceStart)}–${String(sliceStart + PEER_SLICE_SIZE - 1)}`,
  );
}

// Below the ephemeral range: werift probes a port, releases it and binds it again, so a port
// that outgoing sockets can also take may be lost in between. 40 slices of 200 ports by pid, each
// server of a process taking the next 200, so that servers of test files running at the same time
// are unlikely to share ports (the default range, 10000–20000, would be the same for all).
let rtpBase = 22_000 + (process.pid % 40) * 200;

/** An RTP port range (199 ports) for the next test server of this process. */
export function testRtpRange(): [number, number] {
  rtpBase = rtpBase + 200 >= 31_800 ? 22_000 : rtpBase + 200;
  return [rtpBase, rtpBase + 198];
}

/** Whether 127.0.0.1:`port` (or the wildcard address) is bound: a UDP socket or a TCP listener. */
export async function isBound(port: number, protocol: 'udp' | 'tcp'): Promise<boolean> {
  // /proc/net/{udp,tcp}: "sl local_address rem_address st …", addresses as hex "0100007F:13C4".
  const table = await readFile(`/proc/net/${protocol}`, 'utf8');
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .some((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local?.endsWith(`:${hexPort}`)) {
        return false;
      }
      const address = local.slice(0, -5);
      const ours = address === '0100007F' || address === '00000000';
      // TCP 0A = LISTEN; UDP sockets of a server are unconnected (07).
      return ours && state === (protocol === 'tcp' ? '0A' : '07');
    });
}
