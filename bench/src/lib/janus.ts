/**
 * Janus (Debian `janus` 1.1.x) as a comparison target: started in its own process with a
 * configuration written to a temporary directory (the system's /etc/janus is never read),
 * loopback only, the AudioBridge plugin and the plain HTTP transport alone (their folders hold
 * symlinks to those two libraries only), no event handlers, no loggers, no STUN/TURN (ICE
 * restricted to 127.0.0.1, mDNS ignored), so it never contacts anything off the machine.
 *
 * AudioBridge "plain RTP participants" join with a `join` request carrying an `rtp` object
 * (`ip`, `port`, `payload_type`, `audiolevel_ext`, `fec`) instead of a JSEP offer; the `joined`
 * event answers with the `rtp` address Janus receives on. One Janus session per participant, so
 * each long poll only sees its own participant's events.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinnedCommand } from './affinity.js';
import { sleep, spawnBounded } from './spawn.js';
import type { Spawned } from './spawn.js';

const LIB = '/usr/lib/x86_64-linux-gnu/janus';

interface JanusReply {
  janus: string;
  transaction?: string;
  data?: { id: number };
  error?: { code: number; reason: string };
  plugindata?: { data: Record<string, unknown> };
}

/** Where a plain RTP participant sends to Janus. */
export interface JanusRtpEndpoint {
  ip: string;
  port: number;
  payloadType: number;
}

export interface JanusOptions {
  httpPort: number;
  /** Ports of AudioBridge's plain RTP participants (keep them below the ephemeral range). */
  rtpPorts: [number, number];
  timeoutMs: number;
  /** Run janus (every thread) on these CPUs only, with `taskset -c`. */
  cpuList?: string | undefined;
}

let transactionCounter = 0;

export class Janus {
  readonly process: Spawned;
  readonly #base: string;
  readonly #dir: string;
  /** The sessions of each room's participants, ended with the room. */
  readonly #roomSessions = new Map<number, number[]>();

  private constructor(process: Spawned, base: string, dir: string) {
    this.process = process;
    this.#base = base;
    this.#dir = dir;
  }

  static available(): boolean {
    return existsSync('/usr/bin/janus') && existsSync(`${LIB}/plugins/libjanus_audiobridge.so`);
  }

  static async start(options: JanusOptions): Promise<Janus> {
    const dir = mkdtempSync(join(tmpdir(), 'confab-bench-janus-'));
    const cfg = join(dir, 'cfg');
    for (const sub of ['cfg', 'plugins', 'transports', 'events', 'loggers']) {
      mkdirSync(join(dir, sub));
    }
    symlinkSync(
      `${LIB}/plugins/libjanus_audiobridge.so`,
      join(dir, 'plugins', 'libjanus_audiobridge.so'),
    );
    symlinkSync(`${LIB}/transports/libjanus_http.so`, join(dir, 'transports', 'libjanus_http.so'));
    writeFileSync(
      join(cfg, 'janus.jcfg'),
      `general: {
  configs_folder = "${cfg}"
  plugins_folder = "${dir}/plugins"
  transports_folder = "${dir}/transports"
  events_folder = "${dir}/events"
  loggers_folder = "${dir}/loggers"
  debug_level = 3
  session_timeout = 0
}
media: { }
nat: {
  ice_enforce_list = "127.0.0.1"
  ignore_mdns = true
}
plugins: { }
transports: { }
events: { broadcast = false }
loggers: { }
`,
    );
    writeFileSync(
      join(cfg, 'janus.plugin.audiobridge.jcfg'),
      `general: {
  rtp_port_range = "${options.rtpPorts[0]}-${options.rtpPorts[1]}"
  local_ip = "127.0.0.1"
}
`,
    );
    writeFileSync(
      join(cfg, 'janus.transport.http.jcfg'),
      `general: {
  json = "plain"
  base_path = "/janus"
  http = true
  port = ${options.httpPort}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
  admin_https = false
}
`,
    );
    // taskset execs janus: the spawned pid is janus's.
    const command = pinnedCommand(options.cpuList, '/usr/bin/janus', [
      '-F',
      cfg,
      '-C',
      join(cfg, 'janus.jcfg'),
      '-o',
      '-i',
      '127.0.0.1',
    ]);
    const spawned = spawnBounded(command.command, command.args, {
      timeoutMs: options.timeoutMs,
      cwd: dir,
    });
    const janus = new Janus(spawned, `http://127.0.0.1:${options.httpPort}/janus`, dir);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const info = await janus.#post('', { janus: 'info' });
        if (info.janus === 'server_info') {
          return janus;
        }
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        await janus.stop();
        throw new Error(`janus did not start: ${spawned.stderr()}`);
      }
      await sleep(200);
    }
  }

  async #post(path: string, body: Record<string, unknown>): Promise<JanusReply> {
    const response = await fetch(`${this.#base}${path}`, {
      method: 'POST',
      body: JSON.stringify({ ...body, transaction: `t${++transactionCounter}` }),
    });
    return (await response.json()) as JanusReply;
  }

  async #session(): Promise<{ session: number; handle: number }> {
    const created = await this.#post('', { janus: 'create' });
    const session = created.data?.id;
    if (session === undefined) {
      throw new Error(`janus create: ${JSON.stringify(created)}`);
    }
    const attached = await this.#post(`/${session}`, {
      janus: 'attach',
      plugin: 'janus.plugin.audiobridge',
    });
    const handle = attached.data?.id;
    if (handle === undefined) {
      throw new Error(`janus attach: ${JSON.stringify(attached)}`);
    }
    return { session, handle };
  }

  /**
   * Sends an AudioBridge request on a fresh session; async requests wait for their event. The
   * session is destroyed afterwards unless `keep` (a participant lives as long as its session).
   */
  async #request(
    body: Record<string, unknown>,
    keep?: (session: number) => void,
  ): Promise<Record<string, unknown>> {
    const { session, handle } = await this.#session();
    if (keep) {
      keep(session);
      return this.#send(session, handle, body);
    }
    try {
      return await this.#send(session, handle, body);
    } finally {
      await this.#destroySession(session);
    }
  }

  /**
   * Ends a session: its handle is detached (a participant leaves), and Janus ends the handle's
   * own thread and a plain RTP participant's thread.
   */
  async #destroySession(session: number): Promise<void> {
    await this.#post(`/${session}`, { janus: 'destroy' }).catch(() => undefined);
  }

  async #send(
    session: number,
    handle: number,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const reply = await this.#post(`/${session}/${handle}`, { janus: 'message', body });
    if (reply.janus === 'success') {
      return reply.plugindata?.data ?? {};
    }
    if (reply.janus !== 'ack') {
      throw new Error(`janus ${String(body['request'])}: ${JSON.stringify(reply)}`);
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const response = await fetch(`${this.#base}/${session}?maxev=10`);
      const events = (await response.json()) as JanusReply | JanusReply[];
      for (const event of Array.isArray(events) ? events : [events]) {
        if (event.transaction === reply.transaction && event.janus === 'event') {
          return event.plugindata?.data ?? {};
        }
      }
    }
    throw new Error(`janus ${String(body['request'])}: no event`);
  }

  /** An AudioBridge room mixing at 48 kHz that accepts plain RTP participants. */
  async createRoom(room: number): Promise<void> {
    const data = await this.#request({
      request: 'create',
      room,
      permanent: false,
      sampling_rate: 48_000,
      audiolevel_ext: true,
      allow_rtp_participants: true,
      record: false,
    });
    if (data['audiobridge'] !== 'created') {
      throw new Error(`janus create room: ${JSON.stringify(data)}`);
    }
  }

  /**
   * Destroys the room and ends its participants' sessions, so a long-running janus does not
   * keep a thread per past participant (and per handle) from round to round.
   */
  async destroyRoom(room: number): Promise<void> {
    try {
      await this.#request({ request: 'destroy', room, permanent: false });
    } finally {
      const sessions = this.#roomSessions.get(room) ?? [];
      this.#roomSessions.delete(room);
      for (const session of sessions) {
        await this.#destroySession(session);
      }
    }
  }

  /** Joins a plain RTP participant that receives the mix on 127.0.0.1:`port`. */
  async joinRtp(
    room: number,
    display: string,
    port: number,
    codec: 'opus' | 'pcmu',
    payloadType: number,
    audioLevelExtensionId: number,
  ): Promise<JanusRtpEndpoint> {
    const sessions = this.#roomSessions.get(room) ?? [];
    this.#roomSessions.set(room, sessions);
    const data = await this.#request(
      {
        request: 'join',
        room,
        display,
        codec,
        rtp: {
          ip: '127.0.0.1',
          port,
          payload_type: payloadType,
          audiolevel_ext: audioLevelExtensionId,
          fec: false,
        },
      },
      (session) => sessions.push(session),
    );
    const rtp = data['rtp'] as { ip?: string; port?: number; payload_type?: number } | undefined;
    if (data['audiobridge'] !== 'joined' || rtp?.port === undefined) {
      throw new Error(`janus join: ${JSON.stringify(data)}`);
    }
    return { ip: rtp.ip ?? '127.0.0.1', port: rtp.port, payloadType: rtp.payload_type ?? 111 };
  }

  async stop(): Promise<void> {
    this.process.kill('SIGTERM');
    const stopped = await Promise.race([
      this.process.exited.then(() => true),
      sleep(5000).then(() => false),
    ]);
    if (!stopped) {
      this.process.kill('SIGKILL');
      await this.process.exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
