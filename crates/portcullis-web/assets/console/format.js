// Times in the user's own time zone and language.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "3 minutes ago", "in 2 hours". */
export function relativeTime(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (Math.abs(seconds) < 10) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return exactTime(iso);
}

export function exactTime(iso) {
  return exact.format(new Date(iso));
}

export function date(iso) {
  return dateOnly.format(new Date(iso));
}

/** A <time> element: relative text, the exact time on hover and to screen readers. */
export function timeElement(h, iso, { relativeText = true } = {}) {
  if (!iso) return h('span', { class: 'muted' }, 'Never');
  return h('time', { datetime: iso, title: exactTime(iso) }, relativeText ? relativeTime(iso) : exactTime(iso));
}

/** "1 h", "15 min", "90 s" for a token lifetime in seconds. */
export function duration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
