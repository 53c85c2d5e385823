/**
 * The wazo-confd views of Confab's users and lines (spec §3.8, §12), shaped for what the SDK
 * reads: `Profile.parse` (user), `Line.parse` (user lines) and `SipLine.parse` (the merged SIP
 * endpoint, whose `auth_section_options` give the digest credentials and whose
 * `endpoint_section_options` carry `['webrtc', 'yes']`).
 *
 * Confab's model is smaller than confd's: one extension and one SIP endpoint per line, no
 * forwards, services, voicemail or groups. Those fields are present with their "disabled"/empty
 * values so that parsers that dereference them (`forwards.busy`, `services.dnd.enabled`) work.
 * Ids confd would have and Confab lacks are derived: an extension's id is its line's id, and a
 * SIP endpoint's uuid is a name-based UUID (RFC 9562 §5.5, version 5) of the line id in the stack
 * uuid's namespace, stable across restarts.
 */
import { createHash } from 'node:crypto';
import type { Line, User } from '../store/types.js';

/**
 * The `wazo_version` Confab reports from `/infos`. The SDK gates features on it: the websocket
 * heartbeat needs ≥ 20.09, the ad-hoc conference API ≥ 20.12, and `SipLine.parse` reads the
 * `*_section_options` endpoint format of ≥ 20.13. Confab follows the 2025 Wazo wire protocols
 * (spec §0: sources at their 2025 HEAD), so it reports a 2025 release rather than the minimum.
 */
export const WAZO_VERSION = '25.17';

/** Codecs offered by a Confab SIP endpoint: Opus and G.711 (what the media engine mixes). */
const ALLOWED_CODECS = '!all,opus,ulaw,alaw';

/** Configuration the views use. */
export interface ConfdViewConfig {
  /** SIP domain of the stack, announced as the endpoints' `from_domain`. */
  readonly sipDomain?: string | undefined;
}

/** A name-based UUID (version 5, SHA-1) of `name` in the namespace `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const namespaceBytes = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1').update(namespaceBytes).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The uuid of a line's SIP endpoint. */
export function endpointUuid(stackUuid: string, line: Pick<Line, 'id'>): string {
  return uuidV5(stackUuid, `confab:endpoint_sip:${line.id}`);
}

function transport(stackUuid: string, line: Pick<Line, 'webrtc'>): { uuid: string; name: string } {
  const name = line.webrtc ? 'transport-wss' : 'transport-udp';
  return { uuid: uuidV5(stackUuid, `confab:transport:${name}`), name };
}

function displayName(user: Pick<User, 'firstname' | 'lastname' | 'username'>): string {
  const name = `${user.firstname} ${user.lastname}`.trim();
  return name === '' ? user.username : name;
}

/** A line as embedded in the confd user (`Line.parse`). */
export function userLineView(stackUuid: string, line: Line): Record<string, unknown> {
  return {
    id: line.id,
    name: line.sipUsername,
    extensions: [{ id: line.id, exten: line.extension, context: line.context, links: [] }],
    endpoint_sip: {
      id: line.id,
      uuid: endpointUuid(stackUuid, line),
      name: line.sipUsername,
      label: line.sipUsername,
      username: line.sipUsername,
      auth_section_options: [['username', line.sipUsername]],
      links: [],
    },
    endpoint_sccp: null,
    endpoint_custom: null,
    application: null,
    links: [],
  };
}

const disabledForward = { enabled: false, destination: null } as const;

/** `GET /users/{uuid}` (confd `UserSchema`, the fields `Profile.parse` reads and their kin). */
export function userView(
  stackUuid: string,
  user: User,
  lines: readonly Line[],
): Record<string, unknown> {
  return {
    uuid: user.uuid,
    tenant_uuid: user.tenantUuid,
    firstname: user.firstname,
    lastname: user.lastname,
    email: user.email,
    username: user.username,
    timezone: null,
    language: null,
    description: null,
    caller_id: `"${displayName(user)}"`,
    outgoing_caller_id: 'default',
    mobile_phone_number: null,
    music_on_hold: null,
    preprocess_subroutine: null,
    userfield: null,
    call_transfer_enabled: true,
    dtmf_hangup_enabled: false,
    online_call_record_enabled: false,
    supervision_enabled: true,
    ring_seconds: 30,
    simultaneous_calls: 5,
    call_permission_password: null,
    enabled: true,
    subscription_type: 0,
    created_at: user.createdAt,
    lines: lines.map((line) => userLineView(stackUuid, line)),
    incalls: [],
    groups: [],
    queues: [],
    switchboards: [],
    call_pickup_target_users: [],
    agent: null,
    voicemail: null,
    forwards: {
      busy: { ...disabledForward },
      noanswer: { ...disabledForward },
      unconditional: { ...disabledForward },
    },
    services: { dnd: { enabled: false }, incallfilter: { enabled: false } },
    fallbacks: {
      busy_destination: null,
      congestion_destination: null,
      fail_destination: null,
      noanswer_destination: null,
    },
  };
}

/**
 * `GET /users/{uuid}/lines/{line_id}/associated/endpoints/sip?view=merged` (confd ≥ 20.13
 * endpoint format, which `SipLine.parse` reads).
 */
export function sipEndpointView(
  stackUuid: string,
  user: User,
  line: Line,
  config: ConfdViewConfig,
): Record<string, unknown> {
  const endpointOptions: [string, string][] = [
    ['context', line.context],
    ['callerid', `"${displayName(user)}" <${line.extension}>`],
    ['allow', ALLOWED_CODECS],
    // RFC 4733 telephone-events for DTMF.
    ['dtmf_mode', 'rfc4733'],
  ];
  if (line.webrtc) {
    endpointOptions.push(['webrtc', 'yes']);
  }
  if (config.sipDomain !== undefined && config.sipDomain !== '') {
    endpointOptions.push(['from_domain', config.sipDomain]);
  }
  return {
    id: line.id,
    uuid: endpointUuid(stackUuid, line),
    tenant_uuid: line.tenantUuid,
    name: line.sipUsername,
    label: line.sipUsername,
    asterisk_id: null,
    aor_section_options: [
      ['max_contacts', '10'],
      ['remove_existing', 'no'],
    ],
    auth_section_options: [
      ['username', line.sipUsername],
      ['password', line.sipSecret],
    ],
    endpoint_section_options: endpointOptions,
    identify_section_options: [],
    registration_section_options: [],
    registration_outbound_auth_section_options: [],
    outbound_auth_section_options: [],
    templates: [],
    transport: transport(stackUuid, line),
    line: { id: line.id, name: line.sipUsername, links: [] },
    trunk: null,
    links: [],
  };
}
