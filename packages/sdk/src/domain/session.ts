/**
 * The logged-in user as the SDK sees it: the token (wazo-auth), the profile and lines (confd),
 * and the SIP credentials of each line (confd SIP endpoint, `view=merged`).
 */

/** An extension of a line (confd `lines[].extensions[]`). */
export interface Extension {
  readonly exten: string;
  readonly context: string;
}

/** A line of the user (confd `lines[]`). */
export interface Line {
  readonly id: number | string;
  readonly extensions: readonly Extension[];
}

/** Fields of a {@link SipLine}. */
export interface SipLineInit {
  /** Id of the confd line this endpoint belongs to. */
  lineId: number | string;
  /** Digest username (`auth_section_options` `username`). */
  username: string;
  /** Digest password (`auth_section_options` `password`). */
  secret: string;
  /** Whether the endpoint is meant for WebRTC (`endpoint_section_options` `webrtc=yes`). */
  webrtc: boolean;
}

/** The SIP account of one line. Its secret is for the SIP digest only: never log it. */
export class SipLine {
  readonly lineId: number | string;
  readonly username: string;
  readonly secret: string;
  readonly webrtc: boolean;

  constructor(init: SipLineInit) {
    this.lineId = init.lineId;
    this.username = init.username;
    this.secret = init.secret;
    this.webrtc = init.webrtc;
  }

  isWebRtc(): boolean {
    return this.webrtc;
  }

  /** Serialises without the secret. */
  toJSON(): Omit<SipLineInit, 'secret'> {
    return { lineId: this.lineId, username: this.username, webrtc: this.webrtc };
  }
}

/** Fields of a {@link Profile}. */
export interface ProfileInit {
  uuid: string;
  firstName: string;
  lastName: string;
  email?: string | undefined;
  lines: readonly Line[];
  sipLines: readonly SipLine[];
}

/** The user's confd profile. */
export class Profile {
  readonly uuid: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string | undefined;
  readonly lines: readonly Line[];
  readonly sipLines: readonly SipLine[];

  constructor(init: ProfileInit) {
    this.uuid = init.uuid;
    this.firstName = init.firstName;
    this.lastName = init.lastName;
    this.email = init.email;
    this.lines = init.lines;
    this.sipLines = init.sipLines;
  }
}

/** Fields of a {@link Session}. */
export interface SessionInit {
  token: string;
  /** Refresh token of an offline login (`access_type: offline` with a client id). */
  refreshToken?: string | undefined;
  uuid: string;
  tenantUuid?: string | undefined;
  sessionUuid?: string | undefined;
  expiresAt?: Date | undefined;
  acl?: readonly string[];
  profile: Profile;
}

/** An authenticated session (the result of `Auth.logIn`). */
export class Session {
  /** The access token (`X-Auth-Token`). */
  readonly token: string;
  /** The refresh token, when the login asked for one (`Auth.setClientId()`). */
  readonly refreshToken: string | undefined;
  /** The user's uuid (token `metadata.uuid`). */
  readonly uuid: string;
  readonly tenantUuid: string | undefined;
  readonly sessionUuid: string | undefined;
  /** When the token expires (token `utc_expires_at`), if the server said. */
  readonly expiresAt: Date | undefined;
  readonly acl: readonly string[];
  readonly profile: Profile;

  constructor(init: SessionInit) {
    this.token = init.token;
    this.refreshToken = init.refreshToken;
    this.uuid = init.uuid;
    this.tenantUuid = init.tenantUuid;
    this.sessionUuid = init.sessionUuid;
    this.expiresAt = init.expiresAt;
    this.acl = init.acl ?? [];
    this.profile = init.profile;
  }

  /** The same session with a new access token (after a refresh); the refresh token is kept. */
  withToken(token: {
    token: string;
    sessionUuid?: string | undefined;
    expiresAt?: Date | undefined;
    acl?: readonly string[];
  }): Session {
    return new Session({
      token: token.token,
      refreshToken: this.refreshToken,
      uuid: this.uuid,
      tenantUuid: this.tenantUuid,
      sessionUuid: token.sessionUuid ?? this.sessionUuid,
      expiresAt: token.expiresAt,
      acl: token.acl ?? this.acl,
      profile: this.profile,
    });
  }

  /** "First Last", trimmed. */
  displayName(): string {
    return `${this.profile.firstName} ${this.profile.lastName}`.trim();
  }

  primaryLine(): Line | undefined {
    return this.profile.lines[0];
  }

  /** The first SIP line, WebRTC or not. */
  primarySipLine(): SipLine | undefined {
    return this.profile.sipLines[0];
  }

  /** The first SIP line flagged for WebRTC: the one `Phone.connect()` registers. */
  primaryWebRtcLine(): SipLine | undefined {
    return this.profile.sipLines.find((line) => line.isWebRtc());
  }

  /** The first extension of the first line (the user's own number). */
  primaryNumber(): string | undefined {
    return this.primaryLine()?.extensions[0]?.exten;
  }

  /** Every extension of every line. */
  allNumbers(): string[] {
    return this.profile.lines.flatMap((line) => line.extensions.map((e) => e.exten));
  }

  hasExtension(extension: string): boolean {
    return this.allNumbers().includes(extension);
  }

  /** Whether the token has expired at `date` (false when the expiry is unknown). */
  hasExpired(date: Date = new Date()): boolean {
    return this.expiresAt !== undefined && date.getTime() >= this.expiresAt.getTime();
  }

  /** Serialises without the token and SIP secrets. */
  toJSON(): Record<string, unknown> {
    return {
      uuid: this.uuid,
      tenantUuid: this.tenantUuid,
      sessionUuid: this.sessionUuid,
      expiresAt: this.expiresAt?.toISOString(),
      profile: {
        uuid: this.profile.uuid,
        firstName: this.profile.firstName,
        lastName: this.profile.lastName,
        email: this.profile.email,
        lines: this.profile.lines,
        sipLines: this.profile.sipLines.map((line) => line.toJSON()),
      },
    };
  }
}
