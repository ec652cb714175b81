/**
 * Text formatting for the CLI: relative expiry times, which secrets a token
 * holds (never their values), tables and redacted token views.
 *
 * @module
 */

import type { OAuthToken } from "../core/token.ts";

/**
 * An expiry as relative time: `"in 59 min"`, `"expired 3 h ago"`.
 *
 * @param expiresAt Epoch milliseconds.
 * @param now Epoch milliseconds.
 */
export function relativeTime(expiresAt: number, now: number): string {
  const diff = expiresAt - now;
  const abs = Math.abs(diff);
  let amount: string;
  if (abs < 1_000) return diff > 0 ? "in 0 s" : "expired just now";
  if (abs < 60_000) amount = `${Math.floor(abs / 1_000)} s`;
  else if (abs < 3_600_000) amount = `${Math.floor(abs / 60_000)} min`;
  else if (abs < 48 * 3_600_000) amount = `${Math.floor(abs / 3_600_000)} h`;
  else amount = `${Math.floor(abs / 86_400_000)} d`;
  return diff > 0 ? `in ${amount}` : `expired ${amount} ago`;
}

/** A moment as relative time: `"3 h ago"`, `"in 6 d"`, `"-"` when unknown. */
export function whenText(at: number | undefined, now: number): string {
  if (at === undefined) return "-";
  const text = relativeTime(at, now);
  return text.startsWith("expired ") ? text.slice("expired ".length) : text;
}

/** A token's expiry for display. */
export function expiryText(token: OAuthToken, now: number): string {
  if (token.expiresAt === undefined) {
    return token.accessToken === undefined ? "no access token" : "unknown";
  }
  return relativeTime(token.expiresAt, now);
}

/** Short names of the secrets a token holds, in a fixed order. */
export const SECRET_NAMES = [
  ["refreshToken", "refresh"],
  ["accessToken", "access"],
  ["grantToken", "grant"],
  ["clientSecret", "client-secret"],
] as const;

/** Which secret fields a token holds (field names), never their values. */
export function secretFields(token: OAuthToken): string[] {
  return SECRET_NAMES.filter(([field]) => token[field] !== undefined).map((
    [field],
  ) => field);
}

/** Which secrets a token holds, as short names joined by commas. */
export function secretsText(token: OAuthToken): string {
  const names = SECRET_NAMES.filter(([field]) => token[field] !== undefined)
    .map(([, name]) => name);
  return names.length > 0 ? names.join(",") : "-";
}

/** Lays out rows as columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      i === cells.length - 1 ? cell : cell.padEnd(widths[i])
    )
      .join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Tokens in a stable order: by user name, then id. */
export function sortTokens(tokens: OAuthToken[]): OAuthToken[] {
  return [...tokens].sort((a, b) =>
    (a.userName ?? "").localeCompare(b.userName ?? "") ||
    (a.id ?? "").localeCompare(b.id ?? "")
  );
}

/** The `list --json` entry of a token: no secret values. */
export function listEntry(
  token: OAuthToken,
  now: number,
): Record<string, unknown> {
  return {
    id: token.id,
    userName: token.userName,
    clientId: token.clientId,
    redirectUrl: token.redirectUrl,
    apiDomain: token.apiDomain,
    expiresAt: token.expiresAt,
    expires: expiryText(token, now),
    expired: token.isExpired({ now }),
    secrets: secretFields(token),
  };
}

/** `show`'s lines: every field, secrets redacted. */
export function showLines(token: OAuthToken, now: number): string[] {
  const shown = token.toJSON();
  const rows: [string, unknown][] = [
    ["id", shown.id],
    ["user", shown.userName],
    ["client id", shown.clientId],
    ["client secret", shown.clientSecret],
    ["redirect url", shown.redirectUrl],
    ["api domain", shown.apiDomain],
    ["refresh token", shown.refreshToken],
    ["access token", shown.accessToken],
    ["grant token", shown.grantToken],
    [
      "expires",
      token.expiresAt === undefined
        ? expiryText(token, now)
        : `${new Date(token.expiresAt).toISOString()} (${
          expiryText(token, now)
        })`,
    ],
  ];
  return table(
    ["FIELD", "VALUE"],
    rows.map((
      [name, value],
    ) => [name, value === undefined ? "-" : String(value)]),
  ).slice(1);
}
