export interface TimeView {
  iso: string;
  text: string;
}

/** Rendered in UTC; public/js/app.js rewrites it into the viewer's locale, keeping the exact time as a title. */
export function presentTime(date: Date | null): TimeView | null {
  if (!date) return null;
  const iso = date.toISOString();
  return { iso, text: `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` };
}
