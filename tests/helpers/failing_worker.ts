/** A stand-in explainer module that cannot start: its process exits while loading it (as a broken install does). */
Deno.exit(3);
export const api = {};
