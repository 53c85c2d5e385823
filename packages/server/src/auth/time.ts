/**
 * Timestamp formats of the wazo-auth token object (spec §3.2, §11 item 10).
 *
 * - `issued_at` / `expires_at`: local wall-clock time, ISO 8601, microseconds, **no offset**
 *   (Python `datetime.fromtimestamp(t).isoformat()`).
 * - `utc_issued_at` / `utc_expires_at`: UTC, `%Y-%m-%dT%H:%M:%S.%f`, **no `Z`**. The SDK parses it
 *   with `moment.utc`, websocketd with `datetime.fromisoformat`.
 *
 * Microseconds are always written (Python's `isoformat` drops them when they are zero; both
 * forms parse the same).
 */

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function microseconds(epochMs: number): number {
  // The clock may be fractional (sub-millisecond): keep what it gives, floor to a microsecond.
  const micros = Math.floor(epochMs * 1000);
  return ((micros % 1_000_000) + 1_000_000) % 1_000_000;
}

/** `2026-05-05T10:00:00.123000` in the process's local time zone. */
export function formatLocalTimestamp(epochMs: number): string {
  const d = new Date(Math.floor(epochMs));
  return (
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)}` +
    `T${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}` +
    `.${pad(microseconds(epochMs), 6)}`
  );
}

/** `2026-05-05T08:00:00.123000` in UTC, without a `Z`. */
export function formatUtcTimestamp(epochMs: number): string {
  const d = new Date(Math.floor(epochMs));
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}` +
    `.${pad(microseconds(epochMs), 6)}`
  );
}

/** ISO 8601 with an explicit UTC offset (`2026-05-05T08:00:00.123000+00:00`), as Wazo lists
 * `created_at` of refresh tokens. */
export function formatUtcWithOffset(epochMs: number): string {
  return `${formatUtcTimestamp(epochMs)}+00:00`;
}
