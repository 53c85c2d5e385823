/**
 * The page's view of the SDK: registration, the current call, the other calls (held) and the
 * ringing calls, derived from the Phone events. CallSession objects are updated in place by the
 * SDK (hold, mute, calld view), so each event bumps `revision` to re-render. The ad-hoc
 * conference is the SDK's latest snapshot (`onConferenceUpdated`, a new object each time).
 */
import { useEffect, useState } from 'react';
import type { AdHocConference, CallSession, Confab } from '@confab/sdk';

/** What the call panel shows (`data-state` values are stable for tests). */
export type CallView =
  | { state: 'idle' }
  | { state: 'calling' | 'ringing' | 'connecting' | 'active'; call: CallSession }
  | {
      state: 'ended';
      call: CallSession;
      reason: 'hangup' | 'rejected' | 'canceled' | 'failed';
      detail?: string;
    };

export interface PhoneView {
  registered: boolean;
  current: CallView;
  /** Established calls other than the current one (the SDK holds them), oldest first. */
  others: CallSession[];
  /** Incoming calls not answered yet, oldest first. */
  incoming: CallSession[];
  /** The conference this user hosts (the last one, finished until another starts), or null. */
  conference: AdHocConference | null;
  revision: number;
}

export function usePhone(confab: Confab): PhoneView {
  const [view, setView] = useState<PhoneView>({
    registered: confab.Phone.isRegistered(),
    current: { state: 'idle' },
    others: [],
    incoming: [],
    conference: null,
    revision: 0,
  });

  useEffect(() => {
    const { Phone } = confab;
    const update = (change: (previous: PhoneView) => Partial<PhoneView>): void => {
      setView((previous) => {
        const next = { ...previous, ...change(previous) };
        const current = next.current;
        const currentCall = current.state === 'idle' ? undefined : current.call;
        // Everything established that is not on the call panel: auto-held by the SDK.
        const others = Phone.getCallSessions().filter(
          (call) => call.isEstablished() && (currentCall === undefined || !call.is(currentCall)),
        );
        return { ...next, others, revision: previous.revision + 1 };
      });
    };
    const refresh = (): void => update(() => ({}));
    const setCurrent = (current: CallView): void => update(() => ({ current }));
    const endCurrent = (
      call: CallSession,
      reason: 'rejected' | 'canceled' | 'failed',
      detail?: string,
    ): void => {
      update((previous) =>
        previous.current.state !== 'idle' && previous.current.call.is(call)
          ? {
              current: {
                state: 'ended',
                call,
                reason,
                ...(detail === undefined ? {} : { detail }),
              },
            }
          : {},
      );
    };
    const offs = [
      Phone.on(Phone.ON_REGISTERED, () => update(() => ({ registered: true }))),
      Phone.on(Phone.ON_UNREGISTERED, () => update(() => ({ registered: false }))),
      Phone.on(Phone.ON_CALL_OUTGOING, (call) => setCurrent({ state: 'calling', call })),
      Phone.on(Phone.ON_PROGRESS, (call) =>
        update((previous) =>
          previous.current.state === 'calling' && previous.current.call.is(call)
            ? { current: { state: 'ringing', call } }
            : {},
        ),
      ),
      Phone.on(Phone.ON_CALL_INCOMING, (call) =>
        update((previous) => ({
          incoming: [...previous.incoming.filter((c) => !c.is(call)), call],
        })),
      ),
      Phone.on(Phone.ON_CALL_ANSWERED, (call) =>
        update((previous) => ({
          incoming: previous.incoming.filter((c) => !c.is(call)),
          current: { state: 'connecting', call },
        })),
      ),
      Phone.on(Phone.ON_CALL_ACCEPTED, (call) => setCurrent({ state: 'active', call })),
      Phone.on(Phone.ON_CALL_HELD, refresh),
      Phone.on(Phone.ON_CALL_RESUMED, (call) => setCurrent({ state: 'active', call })),
      Phone.on(Phone.ON_CALL_MUTED, refresh),
      Phone.on(Phone.ON_CALL_UNMUTED, refresh),
      Phone.on(Phone.ON_CALL_REJECTED, (call) => endCurrent(call, 'rejected')),
      Phone.on(Phone.ON_CALL_CANCELED, (call) => endCurrent(call, 'canceled')),
      Phone.on(Phone.ON_CALL_FAILED, (call, error) => endCurrent(call, 'failed', error.message)),
      Phone.on(Phone.ON_CONFERENCE_UPDATED, (conference) =>
        update((previous) => {
          const current = previous.current;
          // The host call carries the conference: show it unless another call is being placed.
          const showHost =
            !conference.finished &&
            conference.host.isEstablished() &&
            (current.state === 'idle' || current.state === 'ended');
          return showHost
            ? { conference, current: { state: 'active', call: conference.host } }
            : { conference };
        }),
      ),
      Phone.on(Phone.ON_CALL_ENDED, (call) =>
        update((previous) => {
          const incoming = previous.incoming.filter((c) => !c.is(call));
          const current = previous.current;
          if (current.state === 'idle' || !current.call.is(call) || current.state === 'ended') {
            return { incoming };
          }
          return { incoming, current: { state: 'ended', call, reason: 'hangup' } };
        }),
      ),
    ];
    return () => {
      for (const off of offs) {
        off();
      }
    };
  }, [confab]);

  return view;
}
