/**
 * A TCP proxy in front of a redis-server for tests of lost and late replies: it forwards both ways until
 * `silenceNextRead()` is called; then the first connection that sends an XREADGROUP gets no further reply on that
 * connection (its commands still reach Redis), as over a half-open connection. `holdNextConnection()` makes the
 * next connection's replies wait (in the socket, none lost) until `release()`: a connection that is slow to become
 * ready. New connections work normally.
 */
export interface SilentRedisProxy {
  url: string;
  /** The next XREADGROUP through the proxy, and everything after it on that connection, gets no reply. */
  silenceNextRead(): void;
  /** How many connections have been silenced. */
  silenced(): number;
  /** The next connection through the proxy gets no reply until `release()`. */
  holdNextConnection(): void;
  /** The held connection's replies flow from now on. */
  release(): void;
  /** How many connections the proxy has taken. */
  accepted(): number;
  /** How many connections have had a reply forwarded to them. */
  answered(): number;
  close(): void;
}

export function silentRedisProxy(redisPort: number): SilentRedisProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open: Deno.Conn[] = [];
  let armed = false;
  let silenced = 0;
  let hold: Promise<void> | null = null; // the next connection's replies wait for this
  let release = () => {};
  let accepted = 0;
  let answered = 0;
  const takeHold = () => {
    const held = hold;
    hold = null;
    return held;
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn, inspect: (chunk: Uint8Array) => boolean) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        if (inspect(chunk)) await to.write(chunk);
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* closed already */ }
  };
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port: redisPort });
      open.push(client, server);
      let mute = false;
      pump(client, server, (chunk) => {
        if (armed && /xreadgroup/i.test(new TextDecoder().decode(chunk))) {
          armed = false;
          mute = true;
          silenced++;
        }
        return true;
      });
      accepted++;
      const held = takeHold();
      let replied = false;
      const reply = () => {
        if (!replied && !mute) (replied = true, answered++);
        return !mute;
      };
      if (held) held.then(() => pump(server, client, reply));
      else pump(server, client, reply);
    }
  })().catch(() => {});
  return {
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    silenceNextRead: () => (armed = true),
    silenced: () => silenced,
    holdNextConnection: () => (hold = new Promise((resolve) => (release = resolve))),
    release: () => release(),
    accepted: () => accepted,
    answered: () => answered,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
    },
  };
}
