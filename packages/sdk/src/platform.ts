/**
 * The environment the SDK runs on. In browsers every member defaults to the page's globals; in
 * Node they are injected (see `@confab/sdk/node`, which adapts `ws` and `@roamhq/wrtc`), so the
 * main entry never imports a Node module and never reads a global it was not asked to.
 */
import { UnsupportedError } from '@confab/core';
import type { CallSession } from './domain/call-session.js';
import { createDomAudioOutput } from './phone/remote-audio.js';

/**
 * An event handler property typed bivariantly (like DOM handler properties), so that both the
 * DOM `WebSocket` and `ws`'s `WebSocket` fit {@link WebSocketLike}.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The subset of the WebSocket API the SIP transport uses. */
export interface WebSocketLike {
  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED. */
  readonly readyState: number;
  /** The subprotocol the server selected. */
  readonly protocol: string;
  onopen: Handler<unknown> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens a WebSocket to `url` offering `protocols`. */
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

/** The `fetch` subset used by the REST client. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Where the remote audio of calls is played. */
export interface RemoteAudioOutput {
  /** Starts playing `stream`, the remote audio of `callSession`. Called once per call. */
  attach(callSession: CallSession, stream: MediaStream): void;
  /** Stops playing the audio of `callSession` and releases what `attach` created. */
  detach(callSession: CallSession): void;
}

/** Everything the SDK needs from its environment. */
export interface Platform {
  fetch: FetchLike;
  createWebSocket: WebSocketFactory;
  RTCPeerConnection: new (configuration?: RTCConfiguration) => RTCPeerConnection;
  MediaStream: new (tracks?: MediaStreamTrack[]) => MediaStream;
  /** Local media for calls; the SDK stops the tracks it obtained here when the call ends. */
  getUserMedia: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
  /** Remote audio playback; `undefined` means the application plays it (e.g. Node bots). */
  remoteAudio: RemoteAudioOutput | undefined;
}

/** A partial {@link Platform}: what is not given comes from the globals. */
export type PlatformOverrides = Partial<Platform>;

function missing(what: string): UnsupportedError {
  return new UnsupportedError(
    `${what} is not available in this environment: inject it (in Node, use @confab/sdk/node)`,
  );
}

/**
 * The platform made of `overrides` plus the environment's globals. Globals are read when a member
 * is used, not now, so importing the SDK in Node never fails.
 */
export function resolvePlatform(overrides: PlatformOverrides = {}): Platform {
  const scope = globalThis as Partial<typeof globalThis>;
  return {
    fetch:
      overrides.fetch ??
      ((url, init) => {
        if (typeof scope.fetch !== 'function') {
          return Promise.reject(missing('fetch'));
        }
        return scope.fetch(url, init);
      }),
    createWebSocket:
      overrides.createWebSocket ??
      ((url, protocols) => {
        if (typeof scope.WebSocket !== 'function') {
          throw missing('WebSocket');
        }
        return new scope.WebSocket(url, protocols);
      }),
    RTCPeerConnection:
      overrides.RTCPeerConnection ??
      lazyConstructor<RTCConfiguration | undefined, RTCPeerConnection>(
        'RTCPeerConnection',
        () => scope.RTCPeerConnection,
      ),
    MediaStream:
      overrides.MediaStream ??
      lazyConstructor<MediaStreamTrack[] | undefined, MediaStream>(
        'MediaStream',
        () => scope.MediaStream,
      ),
    getUserMedia:
      overrides.getUserMedia ??
      ((constraints) => {
        const devices = scope.navigator?.mediaDevices;
        if (devices === undefined) {
          // Browsers hide mediaDevices outside secure contexts (https://, http://localhost).
          return Promise.reject(missing('navigator.mediaDevices (a secure context is required)'));
        }
        return devices.getUserMedia(constraints);
      }),
    remoteAudio:
      'remoteAudio' in overrides
        ? overrides.remoteAudio
        : typeof scope.document === 'undefined'
          ? undefined
          : createDomAudioOutput(),
  };
}

/** A constructor that looks the global up on first use and fails clearly when it is absent. */
function lazyConstructor<A, T>(
  name: string,
  lookup: () => (new (arg?: A) => T) | undefined,
): new (arg?: A) => T {
  // A plain function used with `new`: returning an object from a constructor replaces `this`.
  const Lazy = function (this: unknown, arg?: A): T {
    const Real = lookup();
    if (typeof Real !== 'function') {
      throw missing(name);
    }
    return arg === undefined ? new Real() : new Real(arg);
  };
  return Lazy as unknown as new (arg?: A) => T;
}
