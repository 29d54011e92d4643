// The per-day bar chart: a click on a day sets that day (plain links); dragging across days
// sets the range from the first to the last day touched.
export function setupHistogram(root) {
  const chart = root.getElementById("histogram");
  if (!chart) return;
  let start = null;
  let end = null;
  let dragged = false;

  const dayAt = (event) => {
    const hit = document.elementFromPoint(event.clientX, event.clientY);
    return hit?.closest?.("rect[data-day]")?.dataset.day ?? null;
  };
  const paint = () => {
    const [low, high] = [start, end].sort();
    for (const rect of chart.querySelectorAll("rect[data-day]")) {
      const day = rect.dataset.day;
      rect.classList.toggle("brushed", dragged && day >= low && day <= high);
    }
  };

  chart.addEventListener("pointerdown", (event) => {
    start = end = dayAt(event);
    dragged = false;
  });
  chart.addEventListener("pointermove", (event) => {
    if (start === null || !(event.buttons & 1)) return;
    const day = dayAt(event);
    if (day && day !== end) {
      end = day;
      dragged = dragged || end !== start;
      paint();
    }
  });
  chart.addEventListener("pointerup", () => {
    if (start === null) return;
    if (dragged) {
      const [low, high] = [start, end].sort();
      const target = new URL(chart.dataset.base, window.location.href);
      target.searchParams.set("from", low);
      target.searchParams.set("to", high);
      window.location.assign(target);
    }
    start = null;
  });
  // A drag ends on a bar's link: keep its click from choosing a single day.
  chart.addEventListener(
    "click",
    (event) => {
      if (dragged) event.preventDefault();
    },
    true,
  );
}
