/**
 * The Confab softphone page: log in, see the registration, dial, answer or reject, hold and
 * resume, mute, send DTMF from a keypad, place a second call (the SDK holds the first one), hang
 * up; with two calls, merge them into an ad-hoc conference (participants with a talking
 * indicator, server-side mute and remove; add another call; end it for everyone). Every control
 * and status has a stable `data-testid` for the e2e tests.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { AdHocConference, CallSession, Confab } from '@confab/sdk';
import { usePhone, type CallView } from './use-phone.js';

type Phase = 'login' | 'connecting' | 'ready';

const STATE_TEXT: Record<CallView['state'], string> = {
  idle: 'No call',
  calling: 'Calling…',
  ringing: 'Ringing…',
  connecting: 'Connecting…',
  active: 'In call',
  ended: 'Call ended',
};

const REASON_TEXT = {
  hangup: 'hung up',
  rejected: 'declined',
  canceled: 'cancelled by the caller',
  failed: 'failed',
} as const;

const KEYPAD = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'] as const;

/** `data-testid` suffix of a keypad key (`*` and `#` are awkward in selectors). */
function keyId(key: string): string {
  return key === '*' ? 'star' : key === '#' ? 'hash' : key;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status =
      'status' in error && typeof error.status === 'number' && error.status > 0
        ? ` (${error.status})`
        : '';
    return `${error.message}${status}`;
  }
  return String(error);
}

function useElapsed(since: Date | null, running: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) {
      return undefined;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  return since === null ? 0 : Math.max(0, Math.floor((now - since.getTime()) / 1000));
}

function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

export function App({ confab }: { confab: Confab }) {
  const phone = usePhone(confab);
  const [phase, setPhase] = useState<Phase>('login');
  const [server, setServer] = useState(() => window.location.origin);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [number, setNumber] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [dtmfSent, setDtmfSent] = useState('');
  const [busy, setBusy] = useState(false);
  const audioContainer = useRef<HTMLDivElement>(null);

  const current = phone.current;
  const inCall = current.state !== 'idle' && current.state !== 'ended';
  const elapsed = useElapsed(
    current.state === 'active' ? current.call.answerTime : null,
    current.state === 'active',
  );
  const ringing = phone.incoming[0];
  const currentId = current.state === 'idle' ? '' : current.call.getId();
  useEffect(() => setDtmfSent(''), [currentId]);

  const run = async (action: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(describeError(caught));
    }
  };

  const logIn = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setPhase('connecting');
    await run(async () => {
      try {
        confab.Auth.setHost(server);
        await confab.Auth.logIn(username, password);
        const container = audioContainer.current;
        await confab.Phone.connect(container === null ? {} : { remoteAudio: { container } });
        setPhase('ready');
      } catch (caught) {
        await confab.Auth.logout();
        setPhase('login');
        throw caught;
      }
    });
    setBusy(false);
  };

  const logOut = async (): Promise<void> => {
    await run(async () => {
      await confab.Phone.disconnect();
      await confab.Auth.logout();
    });
    setPassword('');
    setPhase('login');
  };

  const dial = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const target = number.trim();
    if (target !== '') {
      await run(() => confab.Phone.call(target));
    }
  };

  const conference = phone.conference;
  const conferenceLive = conference !== null && !conference.finished;
  /** Established calls: the current one and the held ones. */
  const established = [...(current.state === 'active' ? [current.call] : []), ...phone.others];

  /** Merge: the oldest call hosts (the seeds' `startConference(callBob, [callCarol])`). */
  const merge = async (): Promise<void> => {
    const ordered = [...established].sort(
      (a, b) => (a.creationTime?.getTime() ?? 0) - (b.creationTime?.getTime() ?? 0),
    );
    const [host, ...otherCalls] = ordered;
    if (host !== undefined) {
      await run(() => confab.Phone.startConference(host, otherCalls));
    }
  };

  /** Runs a conference action on the latest snapshot (the SDK also emits the new one). */
  const onConference = async (
    action: (conference: AdHocConference) => Promise<unknown>,
  ): Promise<void> => {
    if (conference !== null) {
      await run(() => action(conference));
    }
  };

  const sendDigit = async (call: CallSession, key: string): Promise<void> => {
    await run(async () => {
      await confab.Phone.sendDTMF(key, call);
      setDtmfSent((sent) => (sent + key).slice(-32));
    });
  };

  const who = (call: { displayName: string; number: string }): string =>
    call.displayName && call.displayName !== call.number
      ? `${call.displayName} (${call.number})`
      : call.number;

  return (
    <main className="phone">
      <header className="phone__header">
        <h1>Confab Phone</h1>
        <span
          className={`status ${phone.registered ? 'status--on' : 'status--off'}`}
          data-testid="status-registered"
          data-registered={phone.registered ? 'true' : 'false'}
        >
          {phone.registered ? 'Registered' : 'Not registered'}
        </span>
        {phase === 'ready' && (
          <span className="phone__user">
            <span data-testid="user-name">{confab.Auth.getName()}</span>
            {' · '}
            <span data-testid="user-number">{confab.Auth.getSession()?.primaryNumber() ?? ''}</span>
            <button
              type="button"
              className="link"
              data-testid="logout"
              onClick={() => void logOut()}
            >
              Log out
            </button>
          </span>
        )}
      </header>

      {phase !== 'ready' && (
        <form className="card login" data-testid="login-form" onSubmit={(e) => void logIn(e)}>
          <label>
            Server
            <input
              data-testid="login-server"
              value={server}
              onChange={(e) => setServer(e.target.value)}
              autoComplete="url"
              required
            />
          </label>
          <label>
            Username
            <input
              data-testid="login-username"
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              autoComplete="username"
              required
            />
          </label>
          <label>
            Password
            <input
              data-testid="login-password"
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="current-password"
              required
            />
          </label>
          <button type="submit" className="primary" data-testid="login-submit" disabled={busy}>
            {phase === 'connecting' ? 'Connecting…' : 'Log in'}
          </button>
        </form>
      )}

      {phase === 'ready' && (
        <form className="card dialer" onSubmit={(e) => void dial(e)}>
          <input
            data-testid="dial-number"
            value={number}
            onChange={(e) => setNumber(e.target.value)}
            placeholder="Number, e.g. 1002"
            inputMode="tel"
            aria-label="Number to call"
          />
          <button
            type="submit"
            className="primary"
            data-testid="dial-call"
            disabled={number.trim() === ''}
          >
            Call
          </button>
        </form>
      )}

      {ringing !== undefined && (
        <section className="card incoming" data-testid="incoming-banner" aria-live="assertive">
          <p>
            Incoming call from <strong data-testid="incoming-caller">{who(ringing)}</strong>
          </p>
          <div className="actions">
            <button
              type="button"
              className="primary"
              data-testid="incoming-answer"
              onClick={() => void run(() => confab.Phone.accept(ringing))}
            >
              Answer
            </button>
            <button
              type="button"
              className="danger"
              data-testid="incoming-reject"
              onClick={() => void run(() => confab.Phone.reject(ringing))}
            >
              Reject
            </button>
          </div>
        </section>
      )}

      {phase === 'ready' && (
        <section className="card call">
          <p>
            <span
              data-testid="call-state"
              data-state={current.state}
              data-reason={current.state === 'ended' ? current.reason : undefined}
            >
              {STATE_TEXT[current.state]}
              {current.state === 'ended' &&
                ` (${REASON_TEXT[current.reason]}${current.detail ? `: ${current.detail}` : ''})`}
            </span>
            {current.state !== 'idle' && (
              <>
                {' '}
                <span data-testid="call-peer">{who(current.call)}</span>
              </>
            )}
            {current.state === 'active' && (
              <span className="duration" data-testid="call-duration">
                {formatDuration(elapsed)}
              </span>
            )}
          </p>
          {current.state === 'active' && (
            <div className="actions">
              <button
                type="button"
                data-testid="call-hold"
                data-held={current.call.isOnHold() ? 'true' : 'false'}
                onClick={() =>
                  void run(() =>
                    current.call.isOnHold()
                      ? confab.Phone.resume(current.call)
                      : confab.Phone.hold(current.call),
                  )
                }
              >
                {current.call.isOnHold() ? 'Resume' : 'Hold'}
              </button>
              <button
                type="button"
                data-testid="call-mute"
                data-muted={current.call.isMuted() ? 'true' : 'false'}
                onClick={() =>
                  void run(() => {
                    if (current.call.isMuted()) {
                      confab.Phone.unmute(current.call);
                    } else {
                      confab.Phone.mute(current.call);
                    }
                    return Promise.resolve();
                  })
                }
              >
                {current.call.isMuted() ? 'Unmute' : 'Mute'}
              </button>
              {conferenceLive && !conference.host.is(current.call) && (
                <button
                  type="button"
                  data-testid="call-add-to-conference"
                  onClick={() => void onConference((c) => c.addParticipant(current.call))}
                >
                  Add to conference
                </button>
              )}
            </div>
          )}
          {current.state === 'active' && (
            <div className="keypad" data-testid="dtmf-keypad">
              {KEYPAD.map((key) => (
                <button
                  key={key}
                  type="button"
                  data-testid={`dtmf-${keyId(key)}`}
                  disabled={current.call.isOnHold()}
                  onClick={() => void sendDigit(current.call, key)}
                >
                  {key}
                </button>
              ))}
              <output data-testid="dtmf-sent">{dtmfSent}</output>
            </div>
          )}
          {inCall && (
            <button
              type="button"
              className="danger"
              data-testid="call-hangup"
              onClick={() => void run(() => confab.Phone.hangup(current.call))}
            >
              Hang up
            </button>
          )}
        </section>
      )}

      {phase === 'ready' && !conferenceLive && established.length >= 2 && (
        <section className="card merge">
          <button
            type="button"
            className="primary"
            data-testid="conference-merge"
            onClick={() => void merge()}
          >
            Merge into a conference
          </button>
        </section>
      )}

      {phase === 'ready' && conference !== null && (
        <section
          className="card conference"
          data-testid="conference"
          data-state={conference.state}
          data-conference-id={conference.conferenceId}
        >
          <h2>
            Conference{' '}
            <span data-testid="conference-state">
              {conference.finished
                ? 'ended'
                : `${conference.getParticipants().length} participants`}
            </span>
          </h2>
          {conferenceLive && (
            <>
              <ul className="participants">
                {Object.entries(conference.participants).map(([callId, call]) => {
                  const talking = conference.isTalking(callId);
                  const muted = conference.isParticipantMuted(callId);
                  return (
                    <li
                      key={callId}
                      data-testid="conference-participant"
                      data-call-id={callId}
                      data-talking={talking ? 'true' : 'false'}
                      data-muted={muted ? 'true' : 'false'}
                    >
                      <span
                        className={`talking ${talking ? 'talking--on' : ''}`}
                        data-testid="conference-participant-talking"
                        aria-label={talking ? 'talking' : 'silent'}
                      />
                      <span data-testid="conference-participant-name">{who(call)}</span>
                      <button
                        type="button"
                        data-testid="conference-participant-mute"
                        onClick={() =>
                          void onConference((c) =>
                            muted ? c.unmuteParticipant(callId) : c.muteParticipant(callId),
                          )
                        }
                      >
                        {muted ? 'Unmute' : 'Mute'}
                      </button>
                      <button
                        type="button"
                        className="danger"
                        data-testid="conference-participant-remove"
                        onClick={() => void onConference((c) => c.removeParticipant(callId))}
                      >
                        Remove
                      </button>
                    </li>
                  );
                })}
              </ul>
              <button
                type="button"
                className="danger"
                data-testid="conference-hangup"
                onClick={() => void onConference((c) => c.hangup())}
              >
                End conference
              </button>
            </>
          )}
        </section>
      )}

      {phase === 'ready' && phone.others.length > 0 && (
        <section className="card others" data-testid="held-calls">
          <h2>On hold</h2>
          <ul>
            {phone.others.map((call) => (
              <li key={call.getId()} data-testid="held-call" data-call-id={call.getId()}>
                <span data-testid="held-call-peer">{who(call)}</span>
                <button
                  type="button"
                  data-testid="held-call-resume"
                  onClick={() => void run(() => confab.Phone.resume(call))}
                >
                  Resume
                </button>
                {conferenceLive && !conference.host.is(call) && (
                  <button
                    type="button"
                    data-testid="held-call-add"
                    onClick={() => void onConference((c) => c.addParticipant(call))}
                  >
                    Add to conference
                  </button>
                )}
                <button
                  type="button"
                  className="danger"
                  data-testid="held-call-hangup"
                  onClick={() => void run(() => confab.Phone.hangup(call))}
                >
                  Hang up
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}

      {error !== null && (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      )}

      {/* The SDK appends one <audio autoplay> per call here. */}
      <div ref={audioContainer} className="remote-audio" data-testid="remote-audio" />
    </main>
  );
}
