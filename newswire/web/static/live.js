// While a search is open, ask a cheap endpoint how many matching stories arrived since the
// page was rendered (the newest indexed time it showed), and offer to show them.
export function setupLive(root) {
  const banner = root.getElementById("live");
  if (!banner) return;
  const link = root.getElementById("live-show");
  const interval = Number(banner.dataset.interval || 10) * 1000;
  const url = new URL(banner.dataset.url, window.location.href);
  url.searchParams.set("since", banner.dataset.since);

  async function check() {
    if (document.hidden) return;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const { stories } = await response.json();
      if (stories > 0) {
        link.textContent = `${stories} new ${stories === 1 ? "story" : "stories"} — show`;
        banner.hidden = false;
      }
    } catch {
      // Offline for a moment: the next tick asks again.
    }
  }
  window.setInterval(check, interval);
  document.addEventListener("visibilitychange", check);
}
