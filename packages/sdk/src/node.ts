/**
 * `@confab/sdk/node`: runs the SDK in Node as a headless client (bots, load generators, tests).
 *
 * Node 20 has neither WebSocket nor WebRTC, so both are injected; this module imports neither
 * package itself and only adapts what it is given:
 * ```ts
 * import WebSocket from 'ws';
 * import wrtc from '@roamhq/wrtc';
 * import { createNodeConfab } from '@confab/sdk/node';
 * const alice = createNodeConfab({ WebSocket, wrtc, getUserMedia: async () => myToneStream() });
 * alice.Auth.setHost('http://127.0.0.1:8080');
 * ```
 * `fetch` is Node's own (it cannot skip TLS verification: use the server's `http://` port, or
 * pass a `fetch` that trusts its certificate).
 */
import type { Logger } from '@confab/core';
import confab from './index.js';
import { createConfab, type Confab } from './confab.js';
import type { FetchLike, PlatformOverrides, WebSocketLike } from './platform.js';

/** A `ws`-compatible WebSocket class (`new WebSocket(url, protocols, options)`). */
export type NodeWebSocketClass = new (
  url: string,
  protocols: string[],
  options?: { rejectUnauthorized?: boolean },
) => WebSocketLike;

/** The `@roamhq/wrtc` members the SDK uses. */
export interface WrtcModule {
  RTCPeerConnection: new (configuration?: RTCConfiguration) => RTCPeerConnection;
  MediaStream: new (tracks?: MediaStreamTrack[]) => MediaStream;
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
}

/** Options of {@link nodePlatform}. */
export interface NodePlatformOptions {
  /** The `ws` package's WebSocket class. */
  WebSocket: NodeWebSocketClass;
  /** The `@roamhq/wrtc` module. */
  wrtc: WrtcModule;
  /**
   * Local media of calls. Tests pass a stream from wrtc's nonstandard RTCAudioSource (a tone).
   * @default wrtc's getUserMedia
   */
  getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
  /** Verify the server's TLS certificate on `wss://`. @default true */
  rejectUnauthorized?: boolean;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
}

/** Platform overrides for Node built from injected `ws` and `@roamhq/wrtc`. */
export function nodePlatform(options: NodePlatformOptions): PlatformOverrides {
  const { WebSocket, wrtc } = options;
  const rejectUnauthorized = options.rejectUnauthorized ?? true;
  const getUserMedia =
    options.getUserMedia ??
    (wrtc.getUserMedia === undefined ? undefined : wrtc.getUserMedia.bind(wrtc));
  return {
    createWebSocket: (url, protocols) => new WebSocket(url, protocols, { rejectUnauthorized }),
    RTCPeerConnection: wrtc.RTCPeerConnection,
    MediaStream: wrtc.MediaStream,
    ...(getUserMedia === undefined ? {} : { getUserMedia }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    // Nothing plays audio in Node: applications read `onAudioStream` / `getRemoteStream()`.
    remoteAudio: undefined,
  };
}

/** A new, independent SDK instance for Node. */
export function createNodeConfab(options: NodePlatformOptions & { logger?: Logger }): Confab {
  return createConfab({
    platform: nodePlatform(options),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

/** Configures the package's default instance (`import Confab from '@confab/sdk'`) for Node. */
export function configureNode(options: NodePlatformOptions & { logger?: Logger }): Confab {
  confab.configure({
    platform: nodePlatform(options),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return confab;
}
