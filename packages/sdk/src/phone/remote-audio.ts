/**
 * Browser playback of remote call audio: one hidden `<audio autoplay>` element per call, as
 * `@wazo/sdk` does (`id="audio-{sipCallId}"`), so applications hear calls with no extra code.
 */
import type { CallSession } from '../domain/call-session.js';
import type { RemoteAudioOutput } from '../platform.js';

/** Options of {@link createDomAudioOutput}. */
export interface DomAudioOutputOptions {
  /** Element the `<audio>` elements are appended to. @default document.body */
  container?: HTMLElement;
}

/** A {@link RemoteAudioOutput} that plays each call through its own `<audio>` element. */
export function createDomAudioOutput(options: DomAudioOutputOptions = {}): RemoteAudioOutput {
  const elements = new Map<CallSession, HTMLAudioElement>();
  return {
    attach(callSession, stream) {
      let element = elements.get(callSession);
      if (element === undefined) {
        element = document.createElement('audio');
        element.id = `audio-${callSession.sipCallId}`;
        element.autoplay = true;
        element.dataset['confabCall'] = callSession.sipCallId;
        (options.container ?? document.body).appendChild(element);
        elements.set(callSession, element);
      }
      element.srcObject = stream;
      // Autoplay may be refused until a user gesture; the element keeps trying on its own then.
      element.play().catch(() => undefined);
    },
    detach(callSession) {
      const element = elements.get(callSession);
      if (element === undefined) {
        return;
      }
      elements.delete(callSession);
      element.pause();
      element.srcObject = null;
      element.remove();
    },
  };
}
