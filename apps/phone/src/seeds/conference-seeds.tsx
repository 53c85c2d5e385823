/**
 * The seeds' React examples of ad-hoc conferences (French docs of the original SDK: `call`,
 * `startConference`, `addParticipant`, `removeParticipant`, `hangup`), kept as written apart
 * from the import (`Wazo` is Confab's default export) and the type annotations TypeScript needs
 * where the JavaScript relied on inference from `{}`/`null`. The build type-checks this file
 * (apps/phone/tsconfig.json includes src/), so a change of the SDK's conference shape that would
 * break these examples fails the build. It is not mounted by the page.
 *
 * Every annotation is marked `// typed:`; the only other deviation is marked `// seed bug:`.
 */
/* eslint-disable @typescript-eslint/no-unused-vars, @typescript-eslint/no-floating-promises, @typescript-eslint/require-await, prefer-const -- the seeds as written */
import React, { useState } from 'react';
import Wazo, { type AdHocConference, type CallSession } from '@confab/sdk';

/** Seed "call" (002): place a call, the other calls are marked paused, keep them all. */
export const callComponent = () => {
  const [callSession, setCallSession] = useState<CallSession>({} as CallSession); // typed: contient l'appel actif
  const [callSessions, setCallSessions] = useState<Record<string, CallSession>>({}); // typed: contient l'ensemble des appels (en cours et disponible)

  const initializeWebRtc = async () => {
    // connexion à la ligne SIP
    await Wazo.Phone.connect({ audio: true, video: true });
  };

  const call = async (number: string, video = false) => {
    // typed: number
    // créer l'appel
    const callSession = await Wazo.Phone.call(number, video);
    // mettre les autres appels en pause si il en existe
    setCallSessions((prevCallSessions) => {
      const newCallSessions = { ...prevCallSessions };
      const sessionId = callSession.getId();
      // Parcourez tous les autres objets et mettez leur propriété "pause" à true
      Object.keys(newCallSessions).forEach((key) => {
        if (key !== sessionId) {
          // seed bug: the field is `paused` in both SDKs; the seed adds an unused `pause` expando
          (newCallSessions[key] as CallSession & { pause?: boolean }).pause = true;
        }
      });

      return newCallSessions;
    });
    // mettre à jour callSession et callSessions
    updateCalls(callSession);
  };

  const updateCalls = (callSession: CallSession) => {
    // typed: callSession
    // enregistre l'appel accepté dans callSession comme appel actif
    setCallSession(callSession);
    // enregistre l'appel accepté dans callSessions comme appel disponible
    setCallSessions((prevSessions) => ({
      ...prevSessions,
      [callSession.getId()]: callSession,
    }));
  };
  return { initializeWebRtc, call, callSession, callSessions };
};

/** Seed "startConference" (000/001). */
export const startConferenceComponent = () => {
  const [callSession, setCallSession] = useState<CallSession>({} as CallSession); // typed: contient l'appel actif
  const [callSessions, setCallSessions] = useState<Record<string, CallSession>>({}); // typed: contient l'ensemble des appels (en cours et disponible)
  const [conference, setConference] = useState<AdHocConference | null>(null); // typed: contient la conférence

  const initializeWebRtc = async () => {
    // connexion à la ligne SIP
    await Wazo.Phone.connect({ audio: true, video: true });
  };

  const startConference = async (participants: CallSession[]) => {
    // typed: participants
    let adHocConference;
    // si seulement 2 appels en cours
    if (Object.keys(callSessions).length === 2) {
      // récupère le 2ème appel
      let autreObjet = Object.values(callSessions).find(
        (objet) => objet !== callSessions[callSession.getId()],
      );
      // ajoute le participant du 2ème appel
      adHocConference = await Wazo.Phone.startConference(callSession, [
        autreObjet!, // typed: find() may return undefined
      ]);
    } else {
      // si plus de 2 appels en cours
      adHocConference = await Wazo.Phone.startConference(callSession, participants);
    }
    if (adHocConference) {
      setCallSession(adHocConference.host);
      setConference(adHocConference);
    }
  };
  return { initializeWebRtc, startConference, conference, setCallSessions };
};

/** Seed "addParticipant" (001). */
export const addParticipantComponent = () => {
  const [callSession, setCallSession] = useState<CallSession>({} as CallSession); // typed
  const [callSessions, setCallSessions] = useState<Record<string, CallSession>>({}); // typed
  const [conference, setConference] = useState<AdHocConference | null>(null); // typed

  const addParticipant = async (callSession: CallSession) => {
    // typed: callSession
    // ajout de l'appel en cours à la conférence
    conference!.addParticipant(callSession); // typed: conference may be null
  };
  return { addParticipant };
};

/** Seed "RemoveParticipant" (001): fires `conference_adhoc_participant_left`. */
export const removeParticipantComponent = () => {
  const [conference, setConference] = useState<AdHocConference | null>(null); // typed

  const removeParticipant = async (callSession: CallSession) => {
    // typed: callSession
    // retire l'appel de la conférence
    conference!.removeParticipant(callSession); // typed: conference may be null
  };
  return { removeParticipant };
};

/** Seed "hangup" (001): fires `conference_adhoc_deleted`; resolves `finished: true`, no participants. */
export const hangupComponent = () => {
  const [conference, setConference] = useState<AdHocConference | null>(null); // typed

  const removeParticipant = () => {
    // retire l'appel de la conférence
    conference!.hangup(); // typed: conference may be null
  };
  return { removeParticipant };
};

/** What the seeds read back from the SDK, checked against the types as well. */
export async function seedShapes(conference: AdHocConference): Promise<void> {
  const ended: AdHocConference = await conference.hangup();
  const finished: boolean = ended.finished;
  const participants: Readonly<Record<string, CallSession>> = ended.participants;
  const host: CallSession = ended.host;
  Wazo.Websocket.on(Wazo.Websocket.CONFERENCE_ADHOC_PARTICIPANT_LEFT, ({ data }) => {
    const { conference_id, call_id } = data;
    void [conference_id, call_id];
  });
  Wazo.Websocket.on(Wazo.Websocket.CONFERENCE_ADHOC_DELETED, ({ data }) => void data);
  Wazo.websocket.on('call_updated', ({ data }) => void data);
  void [finished, participants, host, React];
}
