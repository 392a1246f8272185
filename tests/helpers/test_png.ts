/**
 * A small synthetic PNG (a yellow disc on a blue ground) as base64, for API tests that send an image. The
 * canvas addon is imported on first use, so only tests that call this load it.
 */
export async function pngBase64(width: number, height: number): Promise<string> {
  const { createCanvas } = await import("@napi-rs/canvas");
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#406080";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#e0c020";
  ctx.beginPath();
  ctx.arc(width * 0.7, height * 0.3, Math.min(width, height) / 6, 0, 2 * Math.PI);
  ctx.fill();
  return canvas.toBuffer("image/png").toString("base64");
}
