/**
 * The benches' PyTorch side: runs a timing script with Debian's /usr/bin/python3 and returns the JSON objects it
 * prints one per line (other output is ignored); a script that fails throws with its stderr.
 */
export async function pythonRows(script: URL, args: readonly string[]): Promise<Record<string, unknown>[]> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [script.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const name = script.pathname.split("/").at(-1);
  if (out.code !== 0) throw new Error(`${name} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
}
