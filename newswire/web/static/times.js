// Times are rendered in UTC; the reader sees them in their own zone, with "how long ago".
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const steps = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function ago(date, now = Date.now()) {
  const seconds = (date.getTime() - now) / 1000;
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(0, "minute");
}

export function localiseTimes(root) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const node of root.querySelectorAll("time[data-relative]")) {
    const date = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    node.textContent = `${ago(date)} · ${absolute.format(date)}`;
    node.title = `${node.getAttribute("datetime")} (shown in ${zone})`;
    node.removeAttribute("data-relative");
  }
}
