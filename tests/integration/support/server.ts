/**
 * An in-process Confab for integration tests: temp data dir, loopback only, ephemeral web ports,
 * a free SIP port (sipp needs to know it), a small RTP range, no demo users.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { defaultConfig, startConfab, type ConfabConfig, type ConfabServer } from '@confab/server';

export interface TestServer {
  server: ConfabServer;
  config: ConfabConfig;
  sipPort: number;
  close(): Promise<void>;
}

/** A port free on both UDP and TCP at the time of the call. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => {
        resolve(udp.address().port);
      });
    });
    const tcpFree = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => {
        resolve(false);
      });
      server.listen(port, '127.0.0.1', () => {
        server.close(() => {
          resolve(true);
        });
      });
    });
    udp.close();
    if (tcpFree) {
      return port;
    }
  }
  throw new Error('no free port found');
}

// Below the OS ephemeral range (32768+ on Linux): werift probes a port, releases it and binds it
// again, so a port that outbound sockets can also take may be lost in between.
let rtpBase = 22000 + (process.pid % 40) * 200;

export async function startTestServer(overrides: Partial<ConfabConfig> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'confab-it-'));
  rtpBase = rtpBase + 200 >= 31800 ? 22000 : rtpBase + 200;
  const config: ConfabConfig = {
    ...defaultConfig(),
    dataDir,
    httpPort: 0,
    httpsPort: 0,
    // 0: the server picks a number free on both UDP and TCP (no probe-then-bind race).
    sipPort: 0,
    bindAddress: '127.0.0.1',
    advertisedAddress: '127.0.0.1',
    mediaAddresses: ['127.0.0.1'],
    sipDomain: '127.0.0.1',
    rtpPortRange: [rtpBase, rtpBase + 198],
    mediaWorkers: 1,
    logLevel: 'warn',
    createDemoUsers: false,
    ...overrides,
  };
  const server = await startConfab(config, { print: () => undefined });
  return {
    server,
    config,
    sipPort: server.telephony.ports?.udp ?? config.sipPort,
    close: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestLine {
  username: string;
  password: string;
  extension: string;
  sipUsername: string;
  sipSecret: string;
  userUuid: string;
}

/** Creates a user and its line with known SIP credentials. */
export async function addUser(
  server: ConfabServer,
  username: string,
  extension: string,
  options: { webrtc?: boolean } = {},
): Promise<TestLine> {
  const password = `${username}-Pass-1234`;
  const user = await server.store.users.create({
    username,
    password,
    firstname: username,
    lastname: 'Test',
  });
  const sipUsername = `sip${username}`;
  const sipSecret = `${username}-secret-5678`;
  await server.store.lines.create({
    userUuid: user.uuid,
    extension,
    sipUsername,
    sipSecret,
    webrtc: options.webrtc ?? false,
  });
  return { username, password, extension, sipUsername, sipSecret, userUuid: user.uuid };
}
