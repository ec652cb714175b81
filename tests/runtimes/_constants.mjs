/**
 * What the runtime checks' token endpoint accepts, shared by the endpoint and
 * the checks (which run bundled, so this module uses nothing but constants).
 *
 * @module
 */

/** The refresh token every client id is accepted with. */
export const REFRESH_TOKEN = "1000.runtime-refresh";
/** The client secret every client id is accepted with. */
export const CLIENT_SECRET = "runtime-secret";
