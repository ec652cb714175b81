import { assert, assertEquals } from "@std/assert";
import { MemoryTokenStore } from "../stores/memory.ts";
import { testTokenStore } from "./conformance.ts";

testTokenStore(
  "MemoryTokenStore",
  () => Promise.resolve(new MemoryTokenStore()),
);

Deno.test("MemoryTokenStore always provides a lock", () => {
  const store = new MemoryTokenStore();
  assert(store.lock);
});

Deno.test("MemoryTokenStore instances do not share tokens", async () => {
  const { OAuthToken } = await import("../core/token.ts");
  const a = new MemoryTokenStore();
  const b = new MemoryTokenStore();
  await a.saveToken(new OAuthToken({ userName: "x", refreshToken: "1000.r" }));
  assertEquals((await b.getTokens()).length, 0);
});
