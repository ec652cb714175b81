/**
 * Loading, ahead of a process's first token request, what that request's
 * `fetch` would load first (private). Deno loads its fetch code (`Request`,
 * bodies, headers) on first use: the first token request of a process took
 * 8-12 ms on an idle machine against 0.5-1 ms for the next, and 20-50 ms
 * when 8 processes started a stampede together on 2 cores. Building a
 * request object sends nothing and starts no asynchronous operation; it
 * roughly halves that first request.
 *
 * @module
 */

let warmed = false;

/**
 * Builds a form `POST` request and a response once per process, so that the
 * runtime has loaded what a token request needs before one is sent.
 */
export function warmFetch(): void {
  if (warmed) return;
  warmed = true;
  try {
    new Request("http://localhost/", {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token" }),
    });
    new Response("{}", { headers: { "content-type": "application/json" } });
  } catch {
    // a runtime without them: its fetch loads nothing here either
  }
}
