/**
 * An in-process Confab for integration tests: temp data dir, loopback only, web and SIP ports
 * the server binds itself (port 0; sipp is told the SIP port it got), a small private RTP range,
 * no demo users.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, startConfab, type ConfabConfig, type ConfabServer } from '@confab/server';
import { testRtpRange } from '../../support/ports.js';

export interface TestServer {
  server: ConfabServer;
  config: ConfabConfig;
  sipPort: number;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ConfabConfig> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'confab-it-'));
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
    rtpPortRange: testRtpRange(),
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
